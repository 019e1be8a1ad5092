/**
 * Finds the nats-server binary (>= 2.10) for the hub, the leaves and the real-server tests.
 *
 * Same order as scripts/setup-nats-server.mjs, which is what puts a binary in place:
 *   1. $TREMESH_NATS_SERVER — an explicit choice is never silently ignored: if it is unusable we fail;
 *   2. <package root>/.tools/bin/nats-server (fetched by `npm run setup`);
 *   3. `nats-server` on PATH, when it is new enough.
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const NATS_SERVER_ENV = "TREMESH_NATS_SERVER";

/** Leaf-node JetStream domains, account-scoped leaf users and the ports file all need 2.10. */
const MIN_VERSION: readonly [number, number] = [2, 10];

const HOW_TO_FIX = `run \`npm run setup\` (fetches nats-server into .tools/bin) or set ${NATS_SERVER_ENV}=/path/to/nats-server (>= ${MIN_VERSION.join(".")})`;

export class NatsServerNotFoundError extends Error {
  override readonly name = "NatsServerNotFoundError";
  /** Each place looked at, with why it was not used. */
  readonly tried: readonly string[];
  constructor(problem: string, tried: readonly string[], options?: ErrorOptions) {
    super(`${problem}; ${HOW_TO_FIX}`, options);
    this.tried = tried;
  }
}

const versionCache = new Map<string, string | undefined>();

/** The version `binary --version` reports (e.g. "2.10.27"), or undefined when it does not run as nats-server. */
export function natsServerVersion(binary: string): string | undefined {
  if (versionCache.has(binary)) return versionCache.get(binary);
  let version: string | undefined;
  try {
    const out = execFileSync(binary, ["--version"], {
      encoding: "utf8",
      timeout: 10_000,
      stdio: ["ignore", "pipe", "pipe"],
    });
    version = /v?(\d+\.\d+\.\d+)/.exec(out)?.[1];
  } catch {
    version = undefined;
  }
  versionCache.set(binary, version);
  return version;
}

export function isSupportedNatsServerVersion(version: string): boolean {
  const [major = 0, minor = 0] = version.split(".").map(Number);
  const [minMajor, minMinor] = MIN_VERSION;
  return major > minMajor || (major === minMajor && minor >= minMinor);
}

/**
 * Returns the absolute path of a usable nats-server, or throws NatsServerNotFoundError.
 *
 * @example
 * const binary = findNatsServer(); // "/work/tremesh/.tools/bin/nats-server"
 */
export function findNatsServer(): string {
  const tried: string[] = [];

  const fromEnv = process.env[NATS_SERVER_ENV];
  if (fromEnv !== undefined && fromEnv !== "") {
    const binary = resolve(fromEnv);
    const problem = unusable(binary);
    if (problem === undefined) return binary;
    throw new NatsServerNotFoundError(`${NATS_SERVER_ENV}=${fromEnv}: ${problem}`, [`${binary}: ${problem}`]);
  }

  const local = join(packageRoot(), ".tools", "bin", "nats-server");
  const localProblem = unusable(local);
  if (localProblem === undefined) return local;
  tried.push(`${local}: ${localProblem}`);

  const onPath = findOnPath("nats-server");
  if (onPath !== undefined) {
    const pathProblem = unusable(onPath);
    if (pathProblem === undefined) return onPath;
    tried.push(`${onPath}: ${pathProblem}`);
  } else {
    tried.push("PATH: no nats-server");
  }

  throw new NatsServerNotFoundError(`no usable nats-server (tried ${tried.join("; ")})`, tried);
}

function unusable(binary: string): string | undefined {
  if (!isExecutable(binary)) return "no executable file there";
  const version = natsServerVersion(binary);
  if (version === undefined) return "`--version` did not report a nats-server version";
  if (!isSupportedNatsServerVersion(version)) return `version ${version} is too old`;
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

let cachedRoot: string | undefined;

/** The nearest folder above this module holding a package.json: the repo in development, the package when installed. */
function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) {
      cachedRoot = dir;
      return dir;
    }
    const parent = dirname(dir);
    if (parent === dir)
      throw new NatsServerNotFoundError("cannot find tremesh's package.json above its modules", []);
    dir = parent;
  }
}
