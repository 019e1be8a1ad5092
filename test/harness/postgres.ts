/**
 * A real, throw-away PostgreSQL cluster for integration tests: `initdb` into a temp dir, listening on
 * 127.0.0.1 on a free port and on a unix socket in that dir, SCRAM password auth everywhere (no `trust`
 * line at all), and a superuser admin role with a random password. Start one per test file: it takes
 * a second or two.
 *
 * @example
 * const pg = await startPostgres();          // in beforeAll
 * const admin = await pg.connectAdmin();     // closed by stop()
 * await admin.query("CREATE TABLE t (x int)");
 * await pg.stop();                           // in afterAll; or `await using pg = await startPostgres()`
 *
 * As root, every server binary runs as the `postgres` OS user (the server refuses to run as root):
 * spawned with that uid and gid (libuv also drops root's supplementary groups), not through runuser,
 * so the postmaster is this process's own child — signalled by PID, reaped when it exits, never left
 * as a zombie under a container init that does not reap orphans (as `pg_ctl start` would leave it).
 *
 * Set TREMESH_KEEP_TMP=1 to keep the dir (config, log) after stop, and TREMESH_POSTGRES_BINDIR to use
 * binaries other than the newest /usr/lib/postgresql/<version>/bin.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { chown, mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import pg from "pg";
import { findPostgresBinDir } from "./postgres-binaries.js";

export { findPostgresBinDir, PostgresNotFoundError } from "./postgres-binaries.js";

const execFileAsync = promisify(execFile);

export interface StartPostgresOptions {
  /** Database created for the test (the admin owns it). Default "tremesh". */
  database?: string;
  /** Name of the admin (bootstrap superuser) role. Default "tremesh_admin". */
  adminUser?: string;
  /** How long start-up and shutdown may each take. Default 30 000 ms. */
  readyTimeoutMs?: number;
}

export interface PostgresHandle extends AsyncDisposable {
  /** Always 127.0.0.1: the cluster never listens beyond loopback. */
  readonly host: string;
  readonly port: number;
  /** Directory holding the unix socket (`.s.PGSQL.<port>`); usable as `host` in a pg client config. */
  readonly socketDir: string;
  readonly database: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  /** Temp dir holding the data directory, the socket and the server log. */
  readonly dir: string;
  /** Process id of the postmaster. */
  readonly pid: number;
  /** A pg client config for the admin over TCP (SCRAM), to `database` unless `overrides` says otherwise. */
  adminConfig(overrides?: pg.ClientConfig): pg.ClientConfig;
  /** A connected admin client; closed by `stop()` if the test has not closed it. */
  connectAdmin(database?: string): Promise<pg.Client>;
  /** The server log so far, e.g. to explain a failure. */
  readLog(): Promise<string>;
  /** Closes the admin clients, stops the server by PID (SIGINT: fast shutdown; SIGQUIT if that hangs), removes the dir. Idempotent. */
  stop(): Promise<void>;
}

export class PostgresStartError extends Error {
  override readonly name = "PostgresStartError";
  constructor(
    problem: string,
    readonly logTail: string,
    options?: ErrorOptions,
  ) {
    super(`PostgreSQL ${problem}${logTail ? `\n--- log tail ---\n${logTail}` : ""}`, options);
  }
}

const isRoot = process.getuid?.() === 0;

type OsUser = { uid: number; gid: number } | undefined;

/** Spawn options that run a server binary as the `postgres` OS user when we are root. */
async function runAs(): Promise<OsUser> {
  if (!isRoot) return undefined;
  try {
    const uid = Number((await execFileAsync("id", ["-u", "postgres"])).stdout.trim());
    const gid = Number((await execFileAsync("id", ["-g", "postgres"])).stdout.trim());
    return { uid, gid };
  } catch (cause) {
    throw new PostgresStartError("cannot run as root and there is no `postgres` OS user to run it as", "", {
      cause,
    });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no TCP port from the OS");
  return address.port;
}

const PORT_ATTEMPTS = 3;
const POLL_MS = 25;

/** Creates and starts a fresh cluster; throws PostgresNotFoundError or PostgresStartError. */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresHandle> {
  const binDir = findPostgresBinDir();
  const adminUser = options.adminUser ?? "tremesh_admin";
  const database = options.database ?? "tremesh";
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const adminPassword = randomBytes(24).toString("base64url");
  const dir = await mkdtemp(join(tmpdir(), "tremesh-pg-"));
  const user = await runAs().catch(async (error: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const cluster = new PostgresCluster(binDir, dir, user, adminUser, adminPassword, database);
  try {
    if (user) await chown(dir, user.uid, user.gid);
    const pwfile = join(dir, "pwfile");
    await writeFile(pwfile, `${adminPassword}\n`, { mode: 0o600 });
    if (user) await chown(pwfile, user.uid, user.gid);
    const initdb = ["-D", cluster.dataDir, "-U", adminUser, `--pwfile=${pwfile}`, "--auth=scram-sha-256"];
    await execFileAsync(join(binDir, "initdb"), [...initdb, "-E", "UTF8", "--locale=C", "--no-sync"], {
      timeout: timeoutMs,
      ...user,
    }).catch((cause: unknown) => {
      throw new PostgresStartError(`initdb failed: ${errorText(cause)}`, "", { cause });
    });
    await rm(pwfile, { force: true });
    for (let attempt = 1; ; attempt++) {
      try {
        await cluster.start(await freePort(), timeoutMs);
        break;
      } catch (error) {
        // Another process may take the port between freePort() and the bind: try a new one.
        const portTaken = /could not bind|Address already in use/i.test(await cluster.readLog());
        if (!portTaken || attempt >= PORT_ATTEMPTS) throw error;
      }
    }
    const admin = await cluster.connectAdmin("postgres");
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(database)}`);
    await admin.end();
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}

function errorText(error: unknown): string {
  const stderr = (error as { stderr?: unknown }).stderr;
  if (typeof stderr === "string" && stderr.trim() !== "")
    return stderr.trim().split("\n").slice(-5).join("\n");
  return error instanceof Error ? error.message : String(error);
}

interface Run {
  child: ChildProcess;
  exited: Promise<void>;
  done: boolean;
}

class PostgresCluster implements PostgresHandle {
  readonly host = "127.0.0.1";
  readonly dataDir: string;
  readonly logFile: string;
  #port = -1;
  #run: Run | undefined;
  #stopping: Promise<void> | undefined;
  readonly #clients = new Set<pg.Client>();
  readonly #onExit = () => this.#killNow();

  constructor(
    readonly binDir: string,
    readonly dir: string,
    readonly user: OsUser,
    readonly adminUser: string,
    readonly adminPassword: string,
    readonly database: string,
  ) {
    this.dataDir = join(dir, "data");
    this.logFile = join(dir, "postgres.log");
  }

  get port(): number {
    return this.#port;
  }
  get pid(): number {
    return this.#run?.child.pid ?? -1;
  }
  get socketDir(): string {
    return this.dir;
  }

  /** Runs the postmaster as our child, and waits until its pid file says "ready". */
  async start(port: number, timeoutMs: number): Promise<void> {
    this.#port = port;
    const settings = [
      "listen_addresses=127.0.0.1",
      // A throw-away cluster: durability buys nothing and costs seconds.
      "fsync=off",
      "synchronous_commit=off",
      "full_page_writes=off",
      "max_connections=60",
      "shared_buffers=32MB",
    ];
    const args = [
      "-D",
      this.dataDir,
      "-p",
      String(port),
      "-k",
      this.dir,
      ...settings.flatMap((c) => ["-c", c]),
    ];
    const log = await open(this.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(join(this.binDir, "postgres"), args, { stdio: ["ignore", log.fd, log.fd], ...this.user });
    } finally {
      await log.close();
    }
    const run: Run = { child, exited: Promise.resolve(), done: false };
    run.exited = new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.once("error", () => resolve());
    }).then(() => {
      run.done = true;
    });
    this.#run = run;
    process.once("exit", this.#onExit);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (run.done) throw new PostgresStartError("exited during start-up", await this.#logTail());
      if (Date.now() > deadline)
        throw new PostgresStartError(`was not ready within ${timeoutMs} ms`, await this.#logTail());
      // postmaster.pid's eighth line is the server's state; "ready" once it accepts connections.
      const pidFile = await readFile(join(this.dataDir, "postmaster.pid"), "utf8").catch(() => "");
      if (pidFile.split("\n")[7]?.trim() === "ready") return;
      await sleep(POLL_MS);
    }
  }

  adminConfig(overrides: pg.ClientConfig = {}): pg.ClientConfig {
    return {
      host: this.host,
      port: this.#port,
      database: this.database,
      user: this.adminUser,
      password: this.adminPassword,
      ...overrides,
    };
  }

  async connectAdmin(database: string = this.database): Promise<pg.Client> {
    const client = new pg.Client(this.adminConfig({ database }));
    await client.connect();
    this.#clients.add(client);
    client.once("end", () => this.#clients.delete(client));
    return client;
  }

  async readLog(): Promise<string> {
    return readFile(this.logFile, "utf8").catch(() => "");
  }

  async #logTail(): Promise<string> {
    return (await this.readLog()).trim().split("\n").slice(-20).join("\n");
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    await Promise.allSettled([...this.#clients].map((c) => c.end()));
    const run = this.#run;
    if (run !== undefined) {
      // SIGINT is PostgreSQL's fast shutdown (what `pg_ctl stop -m fast` sends); SIGQUIT if it hangs.
      if (!run.done) run.child.kill("SIGINT");
      const timer = new AbortController();
      const exitedInTime = await Promise.race([
        run.exited.then(() => true),
        sleep(30_000, false, { signal: timer.signal }).catch(() => false),
      ]);
      timer.abort();
      if (!exitedInTime) {
        run.child.kill("SIGQUIT");
        await run.exited;
      }
      process.removeListener("exit", this.#onExit);
    }
    if (process.env.TREMESH_KEEP_TMP !== "1") await rm(this.dir, { recursive: true, force: true });
  }

  /** The test process is exiting without having stopped the server: immediate shutdown. */
  #killNow(): void {
    if (this.#run !== undefined && !this.#run.done) this.#run.child.kill("SIGQUIT");
    if (process.env.TREMESH_KEEP_TMP !== "1") rmSync(this.dir, { recursive: true, force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
