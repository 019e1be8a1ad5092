#!/usr/bin/env node
// Makes sure a Docker-Engine-compatible API can be started for the container executor's tests and the
// demo's container analysis: Podman and runc from Debian (no Docker Engine runs on these machines), plus
// busybox-static, whose one static binary is the whole test image (there is no registry to pull a base
// image from). Nothing here starts a service: the tests (test/harness/podman.ts) and `tremesh demo`
// (cli/demo-container.ts) start `podman system service` on a socket of their own and stop it by its PID.
//
// It also writes the project's own containers.conf, in git-ignored .tools/podman/, which the tests
// hand to Podman through CONTAINERS_CONF (the system's configuration is not touched). It sets
// runtime runc and lowers the default ulimits: Podman's defaults ask for more open files and
// processes than a container may set here, and every container start then fails with
// "setrlimit ... operation not permitted".
//
// Plain Node ESM with no npm dependencies: it runs before `npm install`.
//
//   1. podman, runc and /bin/busybox (static) already there: nothing to install;
//   2. otherwise, as root on Debian/Ubuntu: `apt-get install -y --no-install-recommends podman runc
//      busybox-static` (after `apt-get update` if the first try fails);
//   3. otherwise fail with what to do.

import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { aptInstall, canAptInstall, onPath } from "./apt-install.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const PACKAGES = ["podman", "runc", "busybox-static"];

export const containersConfPath = join(root, ".tools", "podman", "containers.conf");

const CONTAINERS_CONF = `# Written by scripts/setup-podman.mjs for tremesh's tests; handed to Podman through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
events_logger = "file"
cgroup_manager = "cgroupfs"
`;

export class PodmanSetupError extends Error {
  /** @param {string} message @param {{ cause?: unknown }} [options] */
  constructor(message, options) {
    super(message, options);
    this.name = "PodmanSetupError";
  }
}

/** A static busybox: the test image's only file, so it must not need a dynamic loader. */
function staticBusybox() {
  try {
    const head = readFileSync("/bin/busybox").subarray(0, 4);
    if (head.toString("latin1") !== "\x7fELF") return undefined;
    const out = execFileSync("/bin/busybox", ["--help"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return out.includes("BusyBox") ? "/bin/busybox" : undefined;
  } catch {
    return undefined;
  }
}

function complete() {
  return onPath("podman") !== undefined && onPath("runc") !== undefined && staticBusybox() !== undefined;
}

/**
 * Finds, or installs, Podman, runc and a static busybox, and writes the project's containers.conf.
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<{ podman: string, containersConf: string }>}
 */
export async function ensurePodman({ quiet = false } = {}) {
  if (!complete()) {
    if (!canAptInstall()) {
      throw new PodmanSetupError(
        "the container executor's tests need podman, runc and a static busybox; install them " +
          `(on Debian or Ubuntu: sudo apt-get install --no-install-recommends ${PACKAGES.join(" ")})`,
      );
    }
    if (!quiet) console.log(`setup: installing ${PACKAGES.join(", ")} (apt-get) for the container executor`);
    try {
      aptInstall(PACKAGES);
    } catch (cause) {
      throw new PodmanSetupError(cause instanceof Error ? cause.message : String(cause), { cause });
    }
    if (!complete())
      throw new PodmanSetupError(`apt-get installed ${PACKAGES.join(" ")}, but one of them is still missing`);
  }
  mkdirSync(dirname(containersConfPath), { recursive: true });
  writeFileSync(containersConfPath, CONTAINERS_CONF, { mode: 0o644 });
  const podman = /** @type {string} */ (onPath("podman"));
  return { podman, containersConf: containersConfPath };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensurePodman({ quiet: process.argv.includes("--quiet") }).catch((error) => {
    console.error(`setup-podman: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
