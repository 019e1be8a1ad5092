#!/usr/bin/env node
// Makes sure tcpdump is there for test/network-hosts.test.ts, which captures the hub's network traffic
// during a task to show that nothing of a released output crosses the network in plaintext.
//
//   1. tcpdump already on PATH: nothing to do;
//   2. otherwise, as root on Debian/Ubuntu: `apt-get install -y --no-install-recommends tcpdump`;
//   3. otherwise a note, not a failure: that test needs root for its network namespaces anyway, and without
//      root or tcpdump it is skipped and says why.
//
// Plain Node ESM with no npm dependencies: it runs before `npm install`.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { aptInstall, canAptInstall, onPath } from "./apt-install.mjs";

/**
 * Finds, or installs, tcpdump; resolves with its path, or undefined (with a note) when it cannot be installed.
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<string | undefined>}
 */
export async function ensureTcpdump({ quiet = false } = {}) {
  const found = onPath("tcpdump");
  if (found !== undefined) return found;
  if (!canAptInstall()) {
    if (!quiet)
      console.log(
        "setup: tcpdump is not installed and cannot be installed here (needs root and apt-get); " +
          "test/network-hosts.test.ts will skip its traffic captures",
      );
    return undefined;
  }
  if (!quiet)
    console.log("setup: installing tcpdump (apt-get) for the network-hosts test's traffic captures");
  aptInstall(["tcpdump"]);
  const installed = onPath("tcpdump");
  if (installed === undefined) throw new Error("apt-get installed tcpdump, but it is still not on PATH");
  return installed;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureTcpdump({ quiet: process.argv.includes("--quiet") }).catch((error) => {
    console.error(`setup-tcpdump: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
