#!/usr/bin/env node
// Brings a fresh clone to a runnable state, doing only what is missing:
//   1. npm dependencies when node_modules is absent or older than package-lock.json. This is
//      `npm install` (which keeps the committed lock) rather than `npm ci`: npm ci insists on
//      lock entries for every platform's optional binaries, which a registry mirror without
//      them cannot provide;
//   2. a nats-server >= 2.10 (see setup-nats-server.mjs);
//   3. PostgreSQL's server binaries, for the tests' throw-away clusters (see setup-postgres.mjs);
//   4. Podman, runc and a static busybox, for the container executor's tests (see setup-podman.mjs);
//   5. tcpdump, for the network-hosts test's traffic captures (see setup-tcpdump.mjs);
//   6. Chromium, for the review page's browser tests (see setup-chromium.mjs);
//   7. with --build, the TypeScript build in dist/.
// Plain Node with no dependencies, because it runs before they are installed.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
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
if (!existsSync(stamp) || statSync(stamp).mtimeMs < statSync(lock).mtimeMs) {
  console.log("setup: installing npm dependencies (npm install, from package-lock.json)");
  run("npm", ["install", "--no-audit", "--no-fund"]);
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

if (args.has("--build")) run(join(root, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.build.json"]);
