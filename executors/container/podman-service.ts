/**
 * A Docker-Engine-compatible API where no Docker Engine runs: `podman system service` on a unix socket
 * of its own, with its own image store and run directory under `dir` (so runs never see each other's
 * images or containers), configured by a containers.conf of the caller's (the project's is written by
 * scripts/setup-podman.mjs). Used by the tests, the benchmarks and `tremesh demo`; a TRE points leaf.yaml
 * at its own engine's socket instead. Stopped by its PID.
 *
 * `buildBusyboxImage` builds an image through the same API from a context made here, with no registry:
 * FROM scratch, a static busybox and the scripts passed in.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { waitFor } from "../../common/index.js";

export interface DockerApi {
  socketPath: string;
  docker: Dockerode;
  /** The service's process id (with `logFile`, also its process group's). */
  pid: number;
  stop(): Promise<void>;
}

export interface DockerApiOptions {
  /**
   * Run the service in a process group of its own with its output appended to this file, so it can
   * outlive this process (the demo's `--keep`); whoever stops it by PID then calls
   * `releaseStorageMounts(dir)`. Default: a child of this process whose stderr is kept for errors.
   */
  logFile?: string;
}

/** Starts `podman system service` with its own storage under `dir`; resolves when it answers /_ping. */
export async function startDockerApi(
  dir: string,
  containersConf: string,
  { logFile }: DockerApiOptions = {},
): Promise<DockerApi> {
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, "podman.sock");
  const args = [
    "--root",
    join(dir, "storage"),
    "--runroot",
    join(dir, "run"),
    "--tmpdir",
    join(dir, "tmp"),
    "system",
    "service",
    "--time=0",
    `unix://${socketPath}`,
  ];
  const log = logFile === undefined ? undefined : openSync(logFile, "a");
  const child: ChildProcess = spawn("podman", args, {
    env: { ...process.env, CONTAINERS_CONF: containersConf },
    stdio: log === undefined ? ["ignore", "ignore", "pipe"] : ["ignore", log, log],
    detached: log !== undefined,
  });
  if (log !== undefined) {
    closeSync(log);
    child.unref();
  }
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const lastWords = () => (logFile === undefined ? stderr : readTail(logFile)).trim();
  // Either ends the wait at once: a missing podman, or a service that gives up, is no reason to poll on.
  const ended = new Promise<never>((_, reject) => {
    child.once("error", (e) => reject(new Error(`could not run podman: ${e.message}`, { cause: e })));
    child.once("exit", (code, signal) =>
      reject(new Error(`podman system service exited (${signal ?? `exit ${code}`}): ${lastWords()}`)),
    );
  });
  ended.catch(() => undefined);
  const docker = new Dockerode({ socketPath });
  try {
    await Promise.race([
      ended,
      waitFor(
        "podman system service",
        () =>
          docker.ping().then(
            () => true,
            () => false,
          ),
        { timeoutMs: 20_000 },
      ),
    ]);
  } catch (e) {
    if (child.exitCode === null) child.kill("SIGKILL");
    throw e;
  }
  if (child.pid === undefined) throw new Error("podman system service has no process id");
  const pid = child.pid;
  return {
    socketPath,
    docker,
    pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      process.kill(pid, "SIGTERM");
      const timer = setTimeout(() => child.exitCode === null && process.kill(pid, "SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      releaseStorageMounts(dir);
    },
  };
}

function readTail(file: string): string {
  try {
    return readFileSync(file, "utf8").slice(-4000);
  } catch {
    return "";
  }
}

export interface BuiltImage {
  /** `sha256:<64 hex>` */
  id: string;
  /** The pinned reference an analysis names: `<repository>@sha256:<id hex>`. */
  ref: string;
}

/**
 * Builds `repository` from scratch: /bin/busybox (static, from the host) plus `files` (path in the
 * image → text, made executable), through the Docker API's /build.
 */
export async function buildBusyboxImage(
  api: DockerApi,
  dir: string,
  repository: string,
  files: Record<string, string> = {},
): Promise<BuiltImage> {
  const context = join(dir, `context-${repository.replace(/[^a-z0-9]/g, "-")}`);
  mkdirSync(context, { recursive: true });
  copyFileSync("/bin/busybox", join(context, "busybox"));
  const lines = [
    "FROM scratch",
    "COPY busybox /bin/busybox",
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
  ];
  const src = ["Dockerfile", "busybox"];
  for (const [path, text] of Object.entries(files)) {
    const local = `file-${src.length}`;
    writeFileSync(join(context, local), text, { mode: 0o755 });
    lines.push(`COPY ${local} ${path}`);
    src.push(local);
  }
  lines.push("USER 65534:65534");
  writeFileSync(join(context, "Dockerfile"), `${lines.join("\n")}\n`);
  const stream = await api.docker.buildImage({ context, src }, { t: `${repository}:test`, rm: true });
  const events = await new Promise<{ error?: string }[]>((done, fail) =>
    api.docker.modem.followProgress(stream, (e: Error | null, r: { error?: string }[]) =>
      e ? fail(e) : done(r),
    ),
  );
  const failed = events.find((e) => e.error);
  if (failed) throw new Error(`image build failed: ${failed.error}`);
  const info = await api.docker.getImage(`${repository}:test`).inspect();
  const id = info.Id.startsWith("sha256:") ? info.Id : `sha256:${info.Id}`;
  return { id, ref: `${repository}@${id}` };
}

/**
 * Podman leaves its storage's own mounts (the overlay driver's home) behind when its service stops; this
 * lifts every mount under `dir` (a service's `startDockerApi` folder) so the folder can be removed.
 */
export function releaseStorageMounts(dir: string): void {
  const points = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const point of points) {
    try {
      execFileSync("umount", ["-l", point], { stdio: "ignore" });
    } catch {
      // Already gone.
    }
  }
}
