// The setup scripts' one way to install Debian packages that are missing: as root, `apt-get install` (after
// `apt-get update` when the first try fails). Plain Node ESM with no npm dependencies: it runs before
// `npm install`.
import { execFileSync } from "node:child_process";
import { delimiter, join } from "node:path";
import { isExecutable } from "./setup-nats-server.mjs";

/** The program `name` on PATH, or undefined. @param {string} name @returns {string | undefined} */
export function onPath(name) {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Whether this process may install packages: root, with apt-get. */
export function canAptInstall() {
  return process.getuid?.() === 0 && onPath("apt-get") !== undefined;
}

/** @param {string[]} args */
function aptGet(args) {
  execFileSync("apt-get", args, {
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 600_000,
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
}

/**
 * `apt-get install -y --no-install-recommends PACKAGES`, retried once after `apt-get update`. Throws an Error
 * ending with apt-get's last lines and "install … yourself".
 * @param {readonly string[]} packages
 */
export function aptInstall(packages) {
  const install = ["install", "-y", "-q", "--no-install-recommends", ...packages];
  try {
    aptGet(install);
  } catch {
    try {
      aptGet(["update", "-q"]);
      aptGet(install);
    } catch (cause) {
      const stderr = /** @type {{ stderr?: Buffer }} */ (cause).stderr?.toString().trim() ?? "";
      const tail = stderr.split("\n").slice(-5).join("\n");
      throw new Error(
        `apt-get ${install.join(" ")} failed${tail ? `:\n${tail}` : ""}\ninstall ${packages.join(" ")} yourself`,
        { cause },
      );
    }
  }
}
