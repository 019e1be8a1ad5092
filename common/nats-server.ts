/**
 * Starts and stops one nats-server process: the hub (`tremesh hub start`), a TRE's leaf, or a server
 * in a test. The config may use `port: -1` (random ports); the real URLs come from the ports file and
 * the log, and `restart()` pins them so clients and leaf links come back to the same addresses.
 *
 * @example
 * await using hub = await startNatsServer({ name: "hub", configText, dir: "/tmp/hub" });
 * const nc = await connect({ servers: hub.clientUrl, user, pass });
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { findNatsServer } from "./nats-binary.js";
import { pinListenPorts } from "./nats-conf-ports.js";
import {
  fileSize,
  lastLines,
  leafListenUrl,
  logSaysReady,
  portsFilePath,
  probeNatsInfo,
  readLogSince,
  readPortsFile,
} from "./nats-server-probe.js";
import { type NatsStartFailure, startFailure } from "./nats-start-failure.js";

export interface StartNatsServerOptions {
  /** Names the files in `dir` (`<name>.conf`, `<name>.log`) and the errors; not the config's server_name. */
  name: string;
  /** Complete nats-server config text (see `toNatsConf`). */
  configText: string;
  /** Working folder for the config, log and ports files; created if missing. Not removed by `stop()`. */
  dir: string;
  /** nats-server binary. Default: `findNatsServer()`. */
  binary?: string;
  /** How long to wait for the server to listen and say it is ready. Default 20 000 ms (JetStream recovery can be slow). */
  readyTimeoutMs?: number;
  /** How long `stop()` waits after SIGTERM before SIGKILL. Default 10 000 ms: JetStream flushes on a clean stop. */
  stopTimeoutMs?: number;
  /**
   * Cores the server runs its Go code on at once (its `GOMAXPROCS`). Default: every core. A server that carries
   * little traffic, such as a TRE's leaf, spends less CPU per message on fewer (leaf/leaf-defaults.ts).
   */
  maxProcs?: number;
}

export interface NatsServerHandle extends AsyncDisposable {
  readonly name: string;
  /** Process id of the current run (it changes on `restart()`). */
  readonly pid: number;
  readonly clientUrl: string;
  /** `nats-leaf://host:port` when the config has a leafnode listener. */
  readonly leafUrl: string | undefined;
  /** `http://host:port` when the config enables monitoring. */
  readonly monitorUrl: string | undefined;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`. Idempotent; resolves once the process has exited. */
  stop(): Promise<void>;
  /** Stops (if running) and starts again with the same config and the same ports. */
  restart(): Promise<void>;
  /**
   * Asks the running server to reload its config (SIGHUP), which re-reads its TLS certificates and keys without
   * dropping a connection; resolves once its log says it reloaded, throws NatsServerStartError if it refused.
   */
  reload(): Promise<void>;
  /** The whole log file (every run), e.g. to assert that the server refused a connection. */
  readLog(): Promise<string>;
}

export interface NatsServerStartErrorOptions extends ErrorOptions {
  /** The server's log file, for the operator to read the whole of. */
  logFile?: string;
  /** Why it did not start, as its log says, when it says. */
  failure?: NatsStartFailure;
}

export class NatsServerStartError extends Error {
  override readonly name = "NatsServerStartError";
  readonly serverName: string;
  /** The message's first line, without the log tail: `nats-server "hub" could not start: …`. */
  readonly summary: string;
  /** The last lines of the server's log and stderr: usually the reason (config error, port in use). */
  readonly logTail: string;
  readonly logFile: string | undefined;
  /** Why the server did not start, as its log says (a port it could not listen on, a config it refused). */
  readonly failure: NatsStartFailure | undefined;
  constructor(
    serverName: string,
    problem: string,
    logTail: string,
    options: NatsServerStartErrorOptions = {},
  ) {
    const summary = `nats-server "${serverName}" ${problem}`;
    super(`${summary}${logTail ? `\n--- log tail ---\n${logTail}` : ""}`, options);
    this.serverName = serverName;
    this.summary = summary;
    this.logTail = logTail;
    this.logFile = options.logFile;
    this.failure = options.failure;
  }
}

/** Starts nats-server and resolves once its client port answers; throws NatsServerStartError otherwise. */
export async function startNatsServer(options: StartNatsServerOptions): Promise<NatsServerHandle> {
  const binary = options.binary ?? findNatsServer();
  const server = new NatsServerProcess(options, binary);
  await mkdir(options.dir, { recursive: true });
  // nats-server 2.10 does not lock its JetStream store: a second server on the same folder (a leaf or hub started
  // twice with one dataDir) would share the store with the first, and its config would overwrite the first's.
  const other = await serverRunningFrom(options.dir);
  if (other !== undefined) {
    const reason =
      `${options.dir} is in use by another nats-server (pid ${other}): is this one already running? ` +
      "stop it first, or give this one its own dataDir";
    throw new NatsServerStartError(options.name, `could not start: ${reason}`, "", { failure: { reason } });
  }
  // Secrets live in the config, so only its owner may read it.
  await writeFile(server.configFile, options.configText, { mode: 0o600 });
  await server.launch();
  return server;
}

/**
 * The pid of a nats-server still running whose ports file (`-ports_file_dir`) is in `dir`, if any. A server that
 * ended leaves its file behind when killed; its pid then runs nothing, or something else (Linux /proc; elsewhere
 * undefined).
 */
async function serverRunningFrom(dir: string): Promise<number | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const pid = /^nats-server_(\d+)\.ports$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    // An ended process waiting to be collected has an empty command line. Its pid taken since by another server
    // (another TRE's, say) names another folder's ports: only a server launched on this folder counts.
    const argv = (await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")).split("\0");
    if (basename(argv[0] ?? "").startsWith("nats-server") && argv.includes(dir)) return Number(pid);
  }
  return undefined;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

interface Run {
  child: ChildProcess;
  exited: Promise<Exit>;
  exit: Exit | undefined;
  output: string[];
}

interface ServerUrls {
  client: string;
  leaf: string | undefined;
  monitor: string | undefined;
}

/**
 * Every server this process started and has not seen exit. When the process ends without stopping them (a test
 * worker whose set-up timed out, a crash), they are killed with it rather than left running, holding ports.
 */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

const TAIL_LINES = 30;
const POLL_MS = 20;

class NatsServerProcess implements NatsServerHandle {
  readonly name: string;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  readonly #binary: string;
  readonly #readyTimeoutMs: number;
  readonly #stopTimeoutMs: number;
  readonly #maxProcs: number | undefined;
  #configText: string;
  #run: Run | undefined;
  #stopping: Promise<void> | undefined;
  #urls: ServerUrls | undefined;

  constructor(options: StartNatsServerOptions, binary: string) {
    this.name = options.name;
    this.dir = options.dir;
    this.configFile = join(options.dir, `${options.name}.conf`);
    this.logFile = join(options.dir, `${options.name}.log`);
    this.#binary = binary;
    this.#configText = options.configText;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
    if (options.maxProcs !== undefined && !(Number.isSafeInteger(options.maxProcs) && options.maxProcs >= 1))
      throw new RangeError(`maxProcs must be a positive integer, got ${options.maxProcs}`);
    this.#maxProcs = options.maxProcs;
  }

  get pid(): number {
    return this.#run?.child.pid ?? -1;
  }
  get clientUrl(): string {
    return this.#requireUrls().client;
  }
  get leafUrl(): string | undefined {
    return this.#requireUrls().leaf;
  }
  get monitorUrl(): string | undefined {
    return this.#requireUrls().monitor;
  }
  get running(): boolean {
    return this.#run !== undefined && this.#run.exit === undefined;
  }

  async launch(): Promise<void> {
    const logOffset = await fileSize(this.logFile);
    const child = spawn(
      this.#binary,
      ["-c", this.configFile, "-ports_file_dir", this.dir, "-l", this.logFile],
      {
        stdio: ["ignore", "pipe", "pipe"],
        ...(this.#maxProcs === undefined
          ? {}
          : { env: { ...process.env, GOMAXPROCS: String(this.#maxProcs) } }),
      },
    );
    const run: Run = {
      child,
      exited: new Promise<Exit>((resolve) => {
        child.once("exit", (code, signal) => resolve({ code, signal }));
        // Spawn failures (ENOENT, EACCES) arrive as "error" with no "exit".
        child.once("error", (error) => resolve({ code: null, signal: null, error }));
      }),
      exit: undefined,
      output: [],
    };
    running.add(child);
    void run.exited.then((exit) => {
      run.exit = exit;
      running.delete(child);
    });
    // Config errors are printed before the log file is opened, so keep the last lines of stdout/stderr too.
    const keep = (chunk: Buffer) => {
      run.output.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      if (run.output.length > TAIL_LINES) run.output.splice(0, run.output.length - TAIL_LINES);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.#run = run;
    this.#stopping = undefined;

    try {
      this.#urls = await this.#waitUntilReady(run, logOffset);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  async #waitUntilReady(run: Run, logOffset: number): Promise<ServerUrls> {
    const deadline = Date.now() + this.#readyTimeoutMs;
    const pid = run.child.pid ?? -1;
    let clientUrl: string | undefined;
    let monitorUrl: string | undefined;
    for (;;) {
      if (run.exit !== undefined) {
        const { code, signal, error } = run.exit;
        const tail = await this.#tail(run, logOffset);
        // The cause first: the fatal line nats-server wrote, not the exit code after dozens of start-up lines.
        const failure = error ? undefined : startFailure(tail);
        const how = error
          ? `could not be started (${error.message})`
          : failure
            ? `could not start: ${failure.reason}`
            : `exited before it was ready (code ${code}, signal ${signal})`;
        throw new NatsServerStartError(this.name, how, tail, {
          cause: error,
          logFile: this.logFile,
          ...(failure ? { failure } : {}),
        });
      }
      if (Date.now() > deadline) {
        throw new NatsServerStartError(
          this.name,
          `was not ready within ${this.#readyTimeoutMs} ms`,
          await this.#tail(run, logOffset),
          { logFile: this.logFile },
        );
      }
      if (clientUrl === undefined) {
        const ports = await readPortsFile(this.dir, pid);
        clientUrl = ports?.nats?.[0];
        monitorUrl = ports?.monitoring?.[0];
      }
      if (clientUrl !== undefined && (await probeNatsInfo(clientUrl, 1_000))) {
        const log = await readLogSince(this.logFile, logOffset);
        if (logSaysReady(log)) return { client: clientUrl, leaf: leafListenUrl(log), monitor: monitorUrl };
      }
      await sleep(POLL_MS);
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#terminate();
    return this.#stopping;
  }

  async #terminate(): Promise<void> {
    const run = this.#run;
    if (run === undefined) return;
    if (run.exit === undefined) {
      run.child.kill("SIGTERM");
      const timeout = new AbortController();
      const exitedInTime = await Promise.race([
        run.exited.then(() => true),
        sleep(this.#stopTimeoutMs, false, { signal: timeout.signal }).catch(() => false),
      ]);
      timeout.abort();
      if (!exitedInTime) run.child.kill("SIGKILL");
      await run.exited;
    }
    // A clean shutdown removes the ports file; a SIGKILL leaves it behind.
    const stale = await portsFilePath(this.dir, run.child.pid ?? -1);
    if (stale !== undefined) await rm(stale, { force: true });
  }

  async restart(): Promise<void> {
    const before = this.#requireUrls();
    await this.stop();
    this.#configText = pinListenPorts(this.#configText, {
      client: portOf(before.client),
      leaf: before.leaf === undefined ? undefined : portOf(before.leaf),
      monitor: before.monitor === undefined ? undefined : portOf(before.monitor),
    });
    await writeFile(this.configFile, this.#configText, { mode: 0o600 });
    await this.launch();
    const after = this.#requireUrls();
    if (after.client !== before.client || after.leaf !== before.leaf || after.monitor !== before.monitor) {
      await this.stop();
      throw new NatsServerStartError(
        this.name,
        `came back on different URLs after restart (${JSON.stringify(before)} → ${JSON.stringify(after)}); ` +
          "pin its ports in the config",
        "",
      );
    }
  }

  async reload(): Promise<void> {
    const run = this.#run;
    if (run === undefined || run.exit !== undefined)
      throw new NatsServerStartError(this.name, "is not running", "");
    const logOffset = await fileSize(this.logFile);
    run.child.kill("SIGHUP");
    const deadline = Date.now() + this.#readyTimeoutMs;
    for (;;) {
      const log = await readLogSince(this.logFile, logOffset);
      if (/Reloaded server configuration/.test(log)) return;
      const failed = /Failed to reload server configuration.*|\[(ERR|FTL)\].*/.exec(log);
      if (failed)
        throw new NatsServerStartError(
          this.name,
          `refused to reload: ${failed[0]}`,
          lastLines(log, TAIL_LINES),
        );
      if (Date.now() > deadline || run.exit !== undefined)
        throw new NatsServerStartError(this.name, "did not reload", await this.#tail(run, logOffset));
      await sleep(POLL_MS);
    }
  }

  async readLog(): Promise<string> {
    return readLogSince(this.logFile, 0);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #requireUrls(): ServerUrls {
    if (this.#urls === undefined) throw new NatsServerStartError(this.name, "has not started", "");
    return this.#urls;
  }

  async #tail(run: Run, logOffset: number): Promise<string> {
    const log = lastLines(await readLogSince(this.logFile, logOffset), TAIL_LINES);
    const output = run.output.join("\n");
    return [log, output].filter(Boolean).join("\n");
  }
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}
