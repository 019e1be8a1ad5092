#!/usr/bin/env node
// Finds or fetches a nats-server (>= 2.10) for tremesh's real-server tests and `tremesh hub start`.
//
// Plain Node ESM with no npm dependencies: it runs before `npm install`.
//
// Resolution order (the TypeScript side, common/nats-binary.ts, mirrors it):
//   1. $TREMESH_NATS_SERVER  — must exist and be >= 2.10, or we fail (an explicit choice is never ignored)
//   2. <root>/.tools/bin/nats-server  — project-local, git-ignored
//   3. `nats-server` on PATH, if it is >= 2.10
//   4. Debian trixie's nats-server package, fetched with apt through a PRIVATE source list and
//      private state/cache dirs (the system's apt configuration is never touched and nothing is
//      installed system-wide), unpacked, and copied to .tools/bin/nats-server.

import { execFileSync } from "node:child_process";
import {
  accessSync,
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const MIN_MAJOR = 2;
const MIN_MINOR = 10;
const ENV_VAR = "TREMESH_NATS_SERVER";
const DEBIAN_SOURCE =
  "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main\n";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const localBinary = join(root, ".tools", "bin", "nats-server");

export class NatsServerSetupError extends Error {
  /** @param {string} message @param {{ cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = "NatsServerSetupError";
  }
}

/**
 * Returns the version reported by `<binary> --version` (e.g. "2.10.27"), or undefined when the
 * binary cannot run or prints something unexpected.
 * @param {string} binary
 * @returns {string | undefined}
 */
export function natsServerVersion(binary) {
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    return /v?(\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

/** @param {string} version */
export function isSupportedVersion(version) {
  const [major, minor] = version.split(".").map(Number);
  if (major === undefined || minor === undefined) return false;
  return major > MIN_MAJOR || (major === MIN_MAJOR && minor >= MIN_MINOR);
}

/** @param {string} file */
export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** @param {string} name */
function onPath(name) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** @param {string} file */
function display(file) {
  const rel = relative(process.cwd(), file);
  return rel.startsWith("..") ? file : rel;
}

/**
 * Fetches Debian trixie's nats-server .deb with apt, using only private, temporary apt state,
 * and installs the binary at .tools/bin/nats-server. Returns the installed version.
 */
function fetchDebianPackage() {
  if (onPath("apt-get") === undefined || onPath("dpkg-deb") === undefined) {
    throw new NatsServerSetupError(
      `no nats-server >= ${MIN_MAJOR}.${MIN_MINOR} found and apt-get/dpkg-deb are not available to fetch one; ` +
        `install nats-server ${MIN_MAJOR}.${MIN_MINOR}+ and set ${ENV_VAR}=/path/to/nats-server`,
    );
  }
  const work = mkdtempSync(join(tmpdir(), "tremesh-nats-setup-"));
  try {
    const sourceList = join(work, "sources.list");
    const sourceParts = join(work, "sources.list.d");
    const lists = join(work, "lists");
    const cache = join(work, "cache");
    const download = join(work, "download");
    const unpacked = join(work, "unpacked");
    for (const dir of [
      sourceParts,
      join(lists, "partial"),
      join(cache, "archives", "partial"),
      download,
      unpacked,
    ]) {
      mkdirSync(dir, { recursive: true });
    }
    writeFileSync(sourceList, DEBIAN_SOURCE);
    const aptOptions = [
      "-o",
      `Dir::Etc::SourceList=${sourceList}`,
      "-o",
      `Dir::Etc::SourceParts=${sourceParts}`,
      "-o",
      `Dir::State::Lists=${lists}`,
      "-o",
      `Dir::Cache=${cache}`,
      "-o",
      "Dir::State::Status=/dev/null",
      // apt drops privileges to `_apt` for downloads when run as root; that user cannot write our temp dirs.
      "-o",
      "APT::Sandbox::User=root",
      "-q",
    ];
    runApt([...aptOptions, "update"], work);
    runApt([...aptOptions, "download", "nats-server"], download);
    const deb = readdirSync(download).find((f) => f.startsWith("nats-server_") && f.endsWith(".deb"));
    if (deb === undefined)
      throw new NatsServerSetupError("apt-get download nats-server produced no .deb file");
    execFileSync("dpkg-deb", ["-x", join(download, deb), unpacked], { stdio: ["ignore", "ignore", "pipe"] });
    const extracted = join(unpacked, "usr", "sbin", "nats-server");
    if (!existsSync(extracted))
      throw new NatsServerSetupError(`${deb} does not contain usr/sbin/nats-server`);

    // Copy to a unique temp name beside the target, then rename: a concurrent run sees either no file or a
    // complete one, never a half-written binary.
    mkdirSync(dirname(localBinary), { recursive: true });
    const staging = `${localBinary}.${process.pid}.${Date.now()}.tmp`;
    copyFileSync(extracted, staging);
    chmodSync(staging, 0o755);
    const version = natsServerVersion(staging);
    if (version === undefined || !isSupportedVersion(version)) {
      rmSync(staging, { force: true });
      throw new NatsServerSetupError(
        `the Debian package's nats-server reports version ${version ?? "(none)"}; need >= ${MIN_MAJOR}.${MIN_MINOR}`,
      );
    }
    renameSync(staging, localBinary);
    return version;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * @param {string[]} args
 * @param {string} cwd
 */
function runApt(args, cwd) {
  try {
    execFileSync("apt-get", args, { cwd, stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
  } catch (cause) {
    const stderr =
      /** @type {{ stderr?: Buffer }} */ (cause).stderr?.toString().trim().split("\n").slice(-5).join("\n") ??
      "";
    throw new NatsServerSetupError(
      `apt-get ${args.at(-2) === "download" ? "download nats-server" : args.at(-1)} failed while fetching Debian's nats-server` +
        `${stderr ? `:\n${stderr}\n` : "; "}` +
        `install nats-server ${MIN_MAJOR}.${MIN_MINOR}+ yourself and set ${ENV_VAR}=/path/to/nats-server`,
      { cause },
    );
  }
}

/**
 * Finds or fetches nats-server >= 2.10 and returns its absolute path.
 * @param {{ quiet?: boolean }} [options] quiet: print nothing (default false: print one line saying what was done)
 * @returns {Promise<string>}
 */
export async function ensureNatsServer({ quiet = false } = {}) {
  /** @param {string} line */
  const say = (line) => {
    if (!quiet) console.log(line);
  };

  const fromEnv = process.env[ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    const binary = resolve(fromEnv);
    if (!isExecutable(binary))
      throw new NatsServerSetupError(`${ENV_VAR}=${fromEnv}: no executable file there`);
    const version = natsServerVersion(binary);
    if (version === undefined)
      throw new NatsServerSetupError(
        `${ENV_VAR}=${fromEnv}: \`--version\` did not report a nats-server version`,
      );
    if (!isSupportedVersion(version)) {
      throw new NatsServerSetupError(
        `${ENV_VAR}=${fromEnv}: nats-server ${version} is too old; need >= ${MIN_MAJOR}.${MIN_MINOR}`,
      );
    }
    say(`nats-server ${version}: using ${binary} (from ${ENV_VAR})`);
    return binary;
  }

  if (isExecutable(localBinary)) {
    const version = natsServerVersion(localBinary);
    if (version !== undefined && isSupportedVersion(version)) {
      say(`nats-server ${version}: using ${display(localBinary)}`);
      return localBinary;
    }
  }

  const system = onPath("nats-server");
  if (system !== undefined) {
    const version = natsServerVersion(system);
    if (version !== undefined && isSupportedVersion(version)) {
      say(`nats-server ${version}: using ${system}`);
      return system;
    }
  }

  const version = fetchDebianPackage();
  say(`nats-server ${version}: fetched Debian trixie package into ${display(dirname(localBinary))}`);
  return localBinary;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureNatsServer({ quiet: process.argv.includes("--quiet") }).catch((error) => {
    console.error(`setup-nats-server: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
