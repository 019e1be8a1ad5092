#!/usr/bin/env node
// Makes sure Debian's Chromium is there for the review page's browser tests (test/pages.test.ts),
// which drive it with playwright-core; no browser is ever downloaded by playwright.
//
//   1. /usr/bin/chromium (or TREMESH_CHROMIUM) already there: nothing to do;
//   2. otherwise, as root on Debian/Ubuntu: `apt-get install -y --no-install-recommends chromium`;
//   3. otherwise a note, not a failure: the browser tests are skipped and say why.
//
// Plain Node ESM with no npm dependencies: it runs before `npm install`.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { aptInstall, canAptInstall } from "./apt-install.mjs";
import { isExecutable } from "./setup-nats-server.mjs";

/** Where the tests look for Chromium. */
export const chromiumPath = () => process.env.TREMESH_CHROMIUM ?? "/usr/bin/chromium";

/**
 * Finds, or installs, Chromium; resolves with its path, or undefined (with a note) when it cannot be installed.
 * @param {{ quiet?: boolean }} [options]
 * @returns {Promise<string | undefined>}
 */
export async function ensureChromium({ quiet = false } = {}) {
  const path = chromiumPath();
  if (isExecutable(path)) return path;
  if (!canAptInstall()) {
    if (!quiet)
      console.log(
        `setup: Chromium is not at ${path} and cannot be installed here (needs root and apt-get); ` +
          "the review page's browser tests will be skipped",
      );
    return undefined;
  }
  if (!quiet) console.log("setup: installing chromium (apt-get) for the review page's browser tests");
  aptInstall(["chromium"]);
  if (!isExecutable(path)) throw new Error(`apt-get installed chromium, but ${path} is still missing`);
  return path;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureChromium({ quiet: process.argv.includes("--quiet") }).catch((error) => {
    console.error(`setup-chromium: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
