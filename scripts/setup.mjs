#!/usr/bin/env node
// Brings a fresh clone to a runnable state, doing only what is missing:
//   1. npm dependencies when node_modules is absent or older than package-lock.json: `npm ci`,
//      which installs exactly the committed lock and never rewrites it (`npm install` would add
//      or drop other platforms' optional binaries and leave a fresh clone dirty). A node_modules
//      that is a link to another checkout's is shared and left alone;
//   2. a nats-server >= 2.10 (see setup-nats-server.mjs);
//   3. PostgreSQL's server binaries, for the tests' throw-away clusters (see setup-postgres.mjs);
//   4. Podman, runc and a static busybox, for the container executor's tests (see setup-podman.mjs);
//   5. tcpdump, for the network-hosts test's traffic captures (see setup-tcpdump.mjs);
//   6. Chromium, for the review page's browser tests (see setup-chromium.mjs);
//   7. with --build, `npm run build`: the TypeScript build in dist/ and the `tremesh` command's bundle of it.
// Plain Node with no dependencies, because it runs before they are installed.
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = new Set(process.argv.slice(2));

function run(cmd, cmdArgs) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) {
    console.error(`setup: '${cmd} ${cmdArgs.join(" ")}' failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
}

const stamp = join(root, "node_modules", ".package-lock.json");
const lock = join(root, "package-lock.json");
const modules = join(root, "node_modules");
const shared = existsSync(modules) && lstatSync(modules).isSymbolicLink();
const stale = !existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs;
if (stale && shared) {
  console.log(
    "setup: node_modules links to another checkout; run `npm ci` there if package-lock.json changed",
  );
} else if (stale) {
  console.log("setup: installing npm dependencies (npm ci: exactly package-lock.json)");
  run("npm", ["ci", "--no-audit", "--no-fund"]);
}

// Each step finds what is there, or installs it, or fails with what to do.
const steps = [
  async () => (await import("./setup-nats-server.mjs")).ensureNatsServer({ quiet: false }),
  async () => (await import("./setup-postgres.mjs")).ensurePostgres({ quiet: false }),
  async () => (await import("./setup-podman.mjs")).ensurePodman({ quiet: false }),
  async () => (await import("./setup-tcpdump.mjs")).ensureTcpdump({ quiet: false }),
  async () => (await import("./setup-chromium.mjs")).ensureChromium({ quiet: false }),
];
for (const step of steps) {
  try {
    await step();
  } catch (error) {
    console.error(`setup: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

if (args.has("--build")) run("npm", ["run", "--silent", "build"]);
