/**
 * The tremesh command line: a thin layer that parses arguments and calls hub/, leaf/ and
 * aggregator/. Every failure ends in one clear line and a documented exit code.
 */
import { readFileSync } from "node:fs";
import { isSystemError, systemErrorWhy } from "../common/index.js";
import type { Command, Io } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { printable } from "./released-files.js";

/**
 * Every command, in the order help lists them, each loaded only when it runs: a researcher's `submit` or `status`
 * starts without the hub's, the leaf's and the demo's code (DuckDB, PostgreSQL, Docker's API client).
 */
const commandModules: Record<string, () => Promise<Command>> = {
  demo: async () => (await import("./demo.js")).demo,
  submit: async () => (await import("./submit-command.js")).submit,
  status: async () => (await import("./status-command.js")).status,
  watch: async () => (await import("./results-command.js")).watch,
  results: async () => (await import("./results-command.js")).results,
  aggregate: async () => (await import("./results-command.js")).aggregate,
  crate: async () => (await import("./crate-command.js")).crate,
  cancel: async () => (await import("./status-command.js")).cancel,
  tres: async () => (await import("./status-command.js")).tres,
  hub: async () => (await import("./hub-command.js")).hub,
  leaf: async () => (await import("./leaf-command.js")).leaf,
  admin: async () => (await import("./admin.js")).admin,
  airlock: async () => (await import("./airlock-command.js")).airlock,
  ui: async () => (await import("./ui-command.js")).ui,
  audit: async () => (await import("./audit-command.js")).audit,
  keygen: async () => (await import("./keygen.js")).keygen,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

async function help(): Promise<string> {
  const commands = await Promise.all(Object.values(commandModules).map((load) => load()));
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
    io.out(await help());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === "--version" || name === "version") {
    io.out(version());
    return ExitCode.ok;
  }
  const load = Object.hasOwn(commandModules, name) ? commandModules[name] : undefined;
  if (!load) {
    io.err(`tremesh: unknown command ${JSON.stringify(name)} (see tremesh --help)`);
    return ExitCode.usage;
  }
  let command: Command;
  try {
    command = await load();
  } catch (e) {
    // A broken install (a module of dist/ missing or unreadable): said once, not thrown.
    io.err(
      `tremesh ${name}: cannot load the command: ${printable(e instanceof Error ? e.message : String(e))}`,
    );
    return ExitCode.failed;
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
    // Loaded by the commands that can throw them (already in memory then), so not with every command line.
    const { AdminError } = await import("../admin/index.js");
    const { RegistryError } = await import("../hub/index.js");
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
