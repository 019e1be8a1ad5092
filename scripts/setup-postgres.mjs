#!/usr/bin/env node
// Makes sure PostgreSQL's server binaries (initdb, postgres) are installed, for the tests that
// start a throw-away cluster of their own (test/harness/postgres.ts). Nothing here starts a server or
// creates a cluster that tests use.
//
// Plain Node ESM with no npm dependencies: it runs before `npm install`.
//
//   1. $TREMESH_POSTGRES_BINDIR, if set, must hold initdb and postgres (an explicit choice is never ignored);
//   2. otherwise any /usr/lib/postgresql/<version>/bin with initdb and postgres will do — print nothing;
//   3. otherwise, as root on Debian/Ubuntu: `apt-get update`, then
//      `apt-get install -y --no-install-recommends postgresql`;
//   4. otherwise fail with what to do.

import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isExecutable } from "./setup-nats-server.mjs";

const ENV_VAR = "TREMESH_POSTGRES_BINDIR";
const ROOT = "/usr/lib/postgresql";

export class PostgresSetupError extends Error {
  /** @param {string} message @param {{ cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = "PostgresSetupError";
  }
}

/** @param {string} dir */
function hasServerTools(dir) {
  return isExecutable(join(dir, "initdb")) && isExecutable(join(dir, "postgres"));
}

/**
 * The newest /usr/lib/postgresql/<version>/bin holding initdb and postgres, or undefined.
 * @returns {string | undefined}
 */
export function findPostgresBinDir() {
  let versions = [];
  try {
    versions = readdirSync(ROOT).filter((v) => /^\d+(\.\d+)?$/.test(v));
  } catch {
    return undefined;
  }
  versions.sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(ROOT, v, "bin")).find(hasServerTools);
}

/** @param {string} name */
function onPath(name) {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => dir !== "" && isExecutable(join(dir, name)));
}

/** @param {string[]} args */
function aptGet(args) {
  try {
    execFileSync("apt-get", args, {
      stdio: ["ignore", "pipe", "pipe"],
      timeout: 600_000,
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    });
  } catch (cause) {
    const stderr =
      /** @type {{ stderr?: Buffer }} */ (cause).stderr?.toString().trim().split("\n").slice(-5).join("\n") ??
      "";
    throw new PostgresSetupError(
      `apt-get ${args.join(" ")} failed${stderr ? `:\n${stderr}` : ""}\ninstall PostgreSQL's server package yourself, or set ${ENV_VAR}`,
      { cause },
    );
  }
}

/**
 * Finds, or installs, PostgreSQL's server binaries; returns their directory.
 * @param {{ quiet?: boolean }} [options] quiet: print nothing even when installing (default false)
 * @returns {Promise<string>}
 */
export async function ensurePostgres({ quiet = false } = {}) {
  const fromEnv = process.env[ENV_VAR];
  if (fromEnv !== undefined && fromEnv !== "") {
    const dir = resolve(fromEnv);
    if (!hasServerTools(dir))
      throw new PostgresSetupError(`${ENV_VAR}=${fromEnv}: no initdb and postgres there`);
    return dir;
  }
  const installed = findPostgresBinDir();
  if (installed !== undefined) return installed;

  if (process.getuid?.() !== 0 || !onPath("apt-get")) {
    throw new PostgresSetupError(
      `PostgreSQL's server binaries (initdb, postgres) are not installed under ${ROOT}/<version>/bin; ` +
        "install them (on Debian or Ubuntu: sudo apt-get install --no-install-recommends postgresql) " +
        `or set ${ENV_VAR} to a directory holding initdb and postgres`,
    );
  }
  if (!quiet) console.log("setup: installing PostgreSQL (apt-get install postgresql) for the database tests");
  aptGet(["update", "-q"]);
  aptGet(["install", "-y", "-q", "--no-install-recommends", "postgresql"]);
  const dir = findPostgresBinDir();
  if (dir === undefined)
    throw new PostgresSetupError(
      `apt-get installed postgresql, but ${ROOT}/<version>/bin still has no initdb`,
    );
  if (!quiet) console.log(`setup: PostgreSQL server binaries in ${dir}`);
  return dir;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensurePostgres({ quiet: process.argv.includes("--quiet") }).catch((error) => {
    console.error(`setup-postgres: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
