/**
 * The tremesh command line: a thin layer that parses arguments and calls hub/, leaf/ and
 * aggregator/. Every failure ends in one clear line and a documented exit code.
 */
import { readFileSync } from "node:fs";
import { AdminError } from "../admin/index.js";
import { isSystemError, systemErrorWhy } from "../common/index.js";
import { RegistryError } from "../hub/index.js";
import { admin } from "./admin.js";
import { airlock } from "./airlock-command.js";
import { audit } from "./audit-command.js";
import type { Command, Io } from "./command.js";
import { crate } from "./crate-command.js";
import { demo } from "./demo.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { hub } from "./hub-command.js";
import { keygen } from "./keygen.js";
import { leaf } from "./leaf-command.js";
import { printable } from "./released-files.js";
import { aggregate, results, watch } from "./results-command.js";
import { cancel, status, tres } from "./status-command.js";
import { submit } from "./submit-command.js";
import { ui } from "./ui-command.js";

const commands: Command[] = [
  demo,
  submit,
  status,
  watch,
  results,
  aggregate,
  crate,
  cancel,
  tres,
  hub,
  leaf,
  admin,
  airlock,
  ui,
  audit,
  keygen,
];

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "tremesh — Five Safes analyses across many Trusted Research Environments",
    "",
    "usage: tremesh <command> [options]      tremesh <command> --help",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "exit codes:",
    ...Object.entries(ExitCode).map(([k, v]) => `  ${v}  ${k}`),
  ].join("\n");
}

function commandHelp(c: Command): string {
  return [`${c.summary}`, "", `usage: ${c.usage}`, "", "examples:", ...c.examples.map((e) => `  ${e}`)].join(
    "\n",
  );
}

const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  tty: process.stdout.isTTY === true,
};

/** Runs one command line and returns the exit code. Never throws. */
export async function run(argv: string[], io: Io = stdio): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(help());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === "--version" || name === "version") {
    io.out(version());
    return ExitCode.ok;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.err(`tremesh: unknown command ${JSON.stringify(name)} (see tremesh --help)`);
    return ExitCode.usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(commandHelp(command));
    return ExitCode.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`tremesh ${name}: ${printable(e.message)}`);
      return e.exitCode;
    }
    if (e instanceof AdminError) {
      io.err(`tremesh ${name}: ${e.message}`);
      return ExitCode[e.code];
    }
    // A file this command had to read or write, named with what is wrong with it, never Node's raw errno line.
    if (isSystemError(e)) {
      io.err(
        `tremesh ${name}: ${printable(e.path ?? "a file")}: ${systemErrorWhy(e)}; check the path and its permissions`,
      );
      return ExitCode.badInput;
    }
    // The registry's own refusals (no such project, a concurrent change): a failed operation, not a crash.
    if (e instanceof RegistryError) {
      io.err(`tremesh ${name}: ${printable(e.message)}`);
      return ExitCode.failed;
    }
    // node:util parseArgs reports unknown flags with a TypeError whose code says so.
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      io.err(`tremesh ${name}: ${e.message} (see tremesh ${name} --help)`);
      return ExitCode.usage;
    }
    io.err(`tremesh ${name}: unexpected error: ${printable(e instanceof Error ? e.message : String(e))}`);
    return ExitCode.failed;
  }
}
