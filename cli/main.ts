/**
 * The tremesh command line: a thin layer that parses arguments and calls hub/, leaf/ and
 * aggregator/. Every failure ends in one clear line and a documented exit code.
 */
import { readFileSync } from "node:fs";
import type { Command, Io } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { printable } from "./printable.js";

/**
 * Every command, in the order help lists them, with its line there; each loaded only when it runs: a researcher's
 * `submit` or `status` starts without the hub's, the leaf's and the demo's code (DuckDB, PostgreSQL, Docker's API
 * client), and `tremesh --help` loads none.
 */
const commands: Record<string, { summary: string; load: () => Promise<Command> }> = {
  demo: {
    summary:
      "run a hub, three TREs and a researcher here: six analyses (one in a container) checked, released, combined",
    load: async () => (await import("./demo.js")).demo,
  },
  submit: {
    summary: "sign an analysis (or a GA4GH TES task) and submit it to the hub for the named TREs",
    load: async () => (await import("./submit-command.js")).submit,
  },
  status: {
    summary:
      "show a task's state at each TRE, with who changed it, when and why; without a task id, your tasks",
    load: async () => (await import("./status-command.js")).status,
  },
  watch: {
    summary:
      "follow a task's progress at each TRE until it ends (live on a terminal, one line per change otherwise)",
    load: async () => (await import("./results-command.js")).watch,
  },
  results: {
    summary: "show each TRE's released outputs of a task, after verifying every Release",
    load: async () => (await import("./results-command.js")).results,
  },
  aggregate: {
    summary: "combine a task's verified released outputs across TREs: per-TRE and combined tables",
    load: async () => (await import("./results-command.js")).aggregate,
  },
  crate: {
    summary:
      "write a task's Five Safes RO-Crates (each TRE's, and the combined one) as BagIt zips, or verify one",
    load: async () => (await import("./crate-command.js")).crate,
  },
  cancel: {
    summary: "cancel a task at every TRE where it has not ended",
    load: async () => (await import("./status-command.js")).cancel,
  },
  tres: {
    summary: "list the federation's TREs and whether each is online (from its signed heartbeats)",
    load: async () => (await import("./status-command.js")).tres,
  },
  hub: {
    summary: "run the federation hub: nats-server (JetStream domain hub) and the hub services",
    load: async () => (await import("./hub-command.js")).hub,
  },
  leaf: {
    summary: "run a TRE's leaf: nats-server dialling out to the hub, and the TRE agent",
    load: async () => (await import("./leaf-command.js")).leaf,
  },
  admin: {
    summary: "federation admin: operator, TREs, researchers, projects, revocation, the data use register",
    load: async () => (await import("./admin.js")).admin,
  },
  airlock: {
    summary:
      "review outputs held in your TRE's airlock: list, show, approve, reject, a released task's crate, or a web page (reviewers only)",
    load: async () => (await import("./airlock-command.js")).airlock,
  },
  ui: {
    summary:
      "the researcher's page in a browser: each TRE's state live, combined tables, plots, released files",
    load: async () => (await import("./ui-command.js")).ui,
  },
  audit: {
    summary:
      "verify a hash-chained audit log (the hub's, or a TRE's with a reviewer profile); reports the first broken link",
    load: async () => (await import("./audit-command.js")).audit,
  },
  keygen: {
    summary: "make an Ed25519 nkey pair; the seed goes to a 0600 file, the public key to stdout",
    load: async () => (await import("./keygen.js")).keygen,
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length));
  return [
    "tremesh — Five Safes analyses across many Trusted Research Environments",
    "",
    "usage: tremesh <command> [options]      tremesh <command> --help",
    "",
    "commands:",
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    "",
    "exit codes:",
    ...Object.entries(ExitCode).map(([k, v]) => `  ${v}  ${k}`),
  ].join("\n");
}

function commandHelp(summary: string, c: Command): string {
  return [summary, "", `usage: ${c.usage}`, "", "examples:", ...c.examples.map((e) => `  ${e}`)].join("\n");
}

const stdio: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  tty: process.stdout.isTTY === true,
};

/** Runs one command line and returns the exit code. Never throws. */
export async function run(argv: string[], io: Io = stdio): Promise<number> {
  // `tremesh help submit` is `tremesh submit --help`.
  if (argv[0] === "help" && argv[1] !== undefined) return run([argv[1], "--help"], io);
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.out(help());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  if (name === "--version" || name === "version") {
    io.out(version());
    return ExitCode.ok;
  }
  const entry = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (!entry) {
    io.err(`tremesh: unknown command ${JSON.stringify(name)} (see tremesh --help)`);
    return ExitCode.usage;
  }
  let command: Command;
  try {
    command = await entry.load();
  } catch (e) {
    // A broken install (a module of dist/ missing or unreadable): said once, not thrown.
    io.err(
      `tremesh ${name}: cannot load the command: ${printable(e instanceof Error ? e.message : String(e))}`,
    );
    return ExitCode.failed;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(commandHelp(entry.summary, command));
    return ExitCode.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      // A message of several lines (a usage after the error) prints as lines, each made safe on its own.
      const [first = "", ...more] = e.message.split("\n");
      io.err(said(name, printable(first)));
      for (const line of more) io.err(printable(line));
      return e.exitCode;
    }
    // Loaded by the commands that can throw them (already in memory then), so not with every command line.
    const { AdminError } = await import("../admin/index.js");
    const { RegistryError } = await import("../hub/index.js");
    const { isSystemError, systemErrorTold } = await import("../common/index.js");
    if (e instanceof AdminError) {
      io.err(said(name, e.message));
      return ExitCode[e.code];
    }
    // A file this command had to read or write, named with what is wrong with it, never Node's raw errno line.
    if (isSystemError(e)) {
      io.err(`tremesh ${name}: ${printable(e.path ?? "a file")}: ${systemErrorTold(e)}`);
      return ExitCode.badInput;
    }
    // The registry's own refusals (no such project, a concurrent change): a failed operation, not a crash.
    if (e instanceof RegistryError) {
      io.err(said(name, printable(e.message)));
      return ExitCode.failed;
    }
    // node:util parseArgs reports unknown flags with a TypeError whose code says so.
    if (e instanceof TypeError && "code" in e && String(e.code).startsWith("ERR_PARSE_ARGS")) {
      const { parseArgsMessage } = await import("./parse-args-error.js");
      io.err(
        `tremesh ${name}: ${printable(parseArgsMessage(String(e.code), e.message, command.usage))} (see tremesh ${name} --help)`,
      );
      return ExitCode.usage;
    }
    io.err(`tremesh ${name}: unexpected error: ${printable(e instanceof Error ? e.message : String(e))}`);
    return ExitCode.failed;
  }
}

/**
 * A command's error line, prefixed once: "tremesh admin init: --dir DIR is required" when the message already names
 * its command ("admin init: …"), "tremesh airlock: --outputs: …" when it does not.
 */
function said(name: string, message: string): string {
  const namesItself = message.startsWith(name) && /^( [a-z-]+)*:/.test(message.slice(name.length));
  return namesItself ? `tremesh ${message}` : `tremesh ${name}: ${message}`;
}
