/**
 * The container executor: runs an allow-listed image, pinned by digest, through the Docker Engine API
 * (Docker, or Podman's Docker-compatible service), sealed off as `sandbox.ts` spells out.
 *
 * One run: resolve the image and check that it is exactly the pinned digest → extract each dataset's
 * allowed columns to /data → create the container → start → wait, killing it when the wall-clock budget
 * runs out or the task is cancelled → keep its stdout and stderr in the TRE's log directory → collect
 * /outputs (`container-outputs.ts`) → remove the container and the task's directory, whatever happened.
 *
 * What the researcher hears stays coarse on purpose: "exited with an error", "killed at the memory
 * limit". The exit code, the logs and the names of refused files stay in the TRE (the `onExit` hook and
 * the log file), because a researcher's code chooses them and could spell data into them.
 *
 * @example
 * const executor = new ContainerExecutor({ docker: new Dockerode({ socketPath }), tre: "north", workDir });
 * await executor.cleanUp(); // once, at agent start
 * const outputs = await executor.run(task, { signal });
 */
import { chmod, mkdir, open, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import Dockerode from "dockerode";
import { type AnalysisKind, IMAGE_REF } from "../../protocol/index.js";
import { AnalysisRefused, ExecutorFailed, isExecutorError } from "../errors.js";
import type { Executor, ExecutorOutput, ExecutorTask, RunOptions } from "../executor.js";
import type { DuckDbEngineOptions } from "../query/duckdb-engine.js";
import { checkBudget, RunGuard } from "../run-guard.js";
import { collectOutputs, OutputRefused } from "./container-outputs.js";
import { extractDataset } from "./dataset-extract.js";
import { resolvePinnedImage } from "./pinned-image.js";
import {
  CONTAINER_DATA_DIR,
  CONTAINER_OUTPUT_DIR,
  containerName,
  LABEL_TRE,
  type SandboxLimits,
  sandboxOptions,
} from "./sandbox.js";
import { isUnrunnableCommand } from "./start-errors.js";

export interface ContainerLimits extends SandboxLimits {
  /** Wall-clock budget of the container itself; the task's own budget still applies. */
  timeoutMs: number;
  /** Most files collected from /outputs. */
  maxOutputFiles: number;
  /** Most bytes collected from /outputs, all files together. */
  maxOutputBytes: number;
  /** Most bytes of stdout and stderr kept in the TRE's log file. */
  maxLogBytes: number;
}

export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = {
  memoryBytes: 512 * 1024 * 1024,
  nanoCpus: 1_000_000_000,
  pids: 128,
  tmpfsBytes: 64 * 1024 * 1024,
  timeoutMs: 600_000,
  maxOutputFiles: 32,
  maxOutputBytes: 512 * 1024,
  maxLogBytes: 1024 * 1024,
};

/** What the TRE keeps about one container run (never sent to the researcher). */
export interface ContainerExit {
  taskId: string;
  container: string;
  imageId: string;
  /** The exit code, or undefined when the container was killed by the executor. */
  exitCode: number | undefined;
  oomKilled: boolean;
  /** Why the executor stopped it, if it did. */
  stopped?: "timeout" | "cancelled";
  durationMs: number;
  /** stdout and stderr, interleaved, capped at maxLogBytes; inside the TRE only. */
  logFile: string;
  /** Names and other details of refused outputs, for the TRE's operators. */
  refused?: string;
}

export interface ContainerExecutorOptions {
  /** A client, or the engine's unix socket to make one for. */
  docker: Dockerode | { socketPath: string };
  /** This TRE's name: labels and names its containers. */
  tre: string;
  /** Owner-only directory for per-task scratch (`tasks/`) and container logs (`logs/`). */
  workDir: string;
  /** "uid:gid" commands run as. Default "65534:65534" (nobody). */
  user?: string;
  limits?: Partial<ContainerLimits>;
  /** For reading datasets into the extracts. */
  duckdb?: DuckDbEngineOptions;
  /** Called once per container run that started, after it ended. */
  onExit?: (exit: ContainerExit) => void;
}

/** A process killed by SIGKILL exits with 128 + 9. */
const SIGKILL_EXIT = 137;

export class ContainerExecutor implements Executor {
  readonly kinds: readonly AnalysisKind[] = ["container"];
  readonly limits: ContainerLimits;
  readonly #o: ContainerExecutorOptions & { docker: Dockerode };

  constructor(options: ContainerExecutorOptions) {
    const docker = options.docker instanceof Dockerode ? options.docker : new Dockerode(options.docker);
    this.#o = { ...options, docker };
    this.limits = { ...DEFAULT_CONTAINER_LIMITS, ...options.limits };
  }

  async run(task: ExecutorTask, options: RunOptions = {}): Promise<ExecutorOutput[]> {
    checkBudget(task.timeoutMs);
    const spec = task.analysis;
    if (spec.kind !== "container")
      throw new AnalysisRefused("kind", "the container executor runs only container analyses");
    if (!IMAGE_REF.test(spec.image)) throw new AnalysisRefused("image", "is not pinned by digest");
    const budget = Math.min(task.timeoutMs, this.limits.timeoutMs);
    using guard = new RunGuard(budget, options.signal);
    const imageId = await resolvePinnedImage(this.#o.docker, spec.image);

    const taskDir = join(this.#o.workDir, "tasks", task.taskId);
    const dataDir = join(taskDir, "data");
    const outputDir = join(taskDir, "outputs");
    await mkdir(join(this.#o.workDir, "logs"), { recursive: true, mode: 0o700 });
    await rm(taskDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    await mkdir(outputDir, { mode: 0o700 });
    await chmod(taskDir, 0o700);
    // The container's user must read /data and write /outputs; the task directory above stays owner-only.
    await chmod(dataDir, 0o755);
    await chmod(outputDir, 0o777);
    let container: Dockerode.Container | undefined;
    try {
      for (const dataset of task.datasets) {
        guard.check();
        await extractDataset(dataset, task.credential, join(dataDir, `${dataset.name}.csv`), guard, {
          taskId: task.taskId,
          timeoutMs: budget,
          ...(this.#o.duckdb ? { duckdb: this.#o.duckdb } : {}),
        });
      }
      guard.check();
      const create = sandboxOptions({
        tre: this.#o.tre,
        taskId: task.taskId,
        imageId,
        command: spec.command,
        env: {
          ...spec.env,
          TREMESH_TASK_ID: task.taskId,
          TREMESH_DATA_DIR: CONTAINER_DATA_DIR,
          TREMESH_OUTPUT_DIR: CONTAINER_OUTPUT_DIR,
          TREMESH_DATASETS: task.datasets.map((d) => d.name).join(","),
        },
        dataDir,
        outputDir,
        user: this.#o.user ?? "65534:65534",
        limits: this.limits,
      });
      container = await this.#o.docker.createContainer(create).catch((e: unknown) => {
        throw new ExecutorFailed("the container engine could not create the task's container", {
          retryable: true,
          cause: e,
        });
      });
      const started = Date.now();
      const c = container;
      const kill = () => void c.kill({ signal: "SIGKILL" }).catch(() => {});
      let exitCode: number | undefined;
      let stopped: "timeout" | "cancelled" | undefined;
      try {
        await guard.interruptible(() => c.start(), kill);
        const waited = (await guard.interruptible(() => c.wait(), kill)) as { StatusCode?: number };
        exitCode = waited.StatusCode;
      } catch (e) {
        stopped = guard.stopped;
        if (stopped === undefined) {
          if (isUnrunnableCommand(e))
            throw new AnalysisRefused(
              "command",
              "is not a program this image can run (not found, or not executable)",
              {
                cause: e,
              },
            );
          throw new ExecutorFailed("the container engine could not run the task's container", {
            retryable: true,
            cause: e,
          });
        }
        await this.#finish(c, task.taskId, imageId, started, undefined, stopped, task.record);
        throw e;
      }
      const exit = await this.#finish(c, task.taskId, imageId, started, exitCode, undefined, task.record);
      const limit = `${Math.round(this.limits.memoryBytes / 1048576)} MiB`;
      if (exit.oomKilled)
        throw new ExecutorFailed(`the container went over its memory limit (${limit}) and was killed`, {
          retryable: false,
        });
      // Some engines (Podman on cgroup v1) never set OOMKilled; a SIGKILL we did not send is, in practice, the OOM killer.
      if (exitCode === SIGKILL_EXIT)
        throw new ExecutorFailed(
          `the container was killed (SIGKILL), most likely for going over its memory limit (${limit})`,
          { retryable: false },
        );
      if (exitCode !== 0) {
        throw new ExecutorFailed(
          "the container exited with an error; its exit code and log are kept in the TRE",
          { retryable: false },
        );
      }
      try {
        return await collectOutputs(outputDir, spec, {
          maxFiles: this.limits.maxOutputFiles,
          maxBytes: this.limits.maxOutputBytes,
        });
      } catch (e) {
        if (e instanceof OutputRefused) {
          this.#o.onExit?.({ ...exit, refused: e.detail });
          task.record?.("container.outputs_refused", { detail: e.detail.slice(0, 200) });
        }
        throw e;
      }
    } catch (e) {
      if (isExecutorError(e)) throw e;
      throw new ExecutorFailed("the container run failed inside the TRE", { retryable: false, cause: e });
    } finally {
      if (container) await container.remove({ force: true, v: true }).catch(() => {});
      await rm(taskDir, { recursive: true, force: true }).catch(() => {});
    }
  }

  /** Removes this TRE's task containers and scratch directories left by an earlier agent process. */
  async cleanUp(): Promise<number> {
    const stale = await treContainers(this.#o.docker, this.#o.tre);
    let removed = 0;
    for (const info of stale) {
      await this.#o.docker
        .getContainer(info.Id)
        .remove({ force: true, v: true })
        .then(() => removed++)
        .catch(() => {});
    }
    const tasks = join(this.#o.workDir, "tasks");
    for (const dir of await readdir(tasks).catch(() => [] as string[])) {
      await rm(join(tasks, dir), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }

  async #finish(
    c: Dockerode.Container,
    taskId: string,
    imageId: string,
    started: number,
    exitCode: number | undefined,
    stopped: "timeout" | "cancelled" | undefined,
    record: ExecutorTask["record"],
  ): Promise<ContainerExit> {
    const durationMs = Date.now() - started;
    let oomKilled = false;
    try {
      const info = await c.inspect();
      oomKilled = info.State.OOMKilled === true;
    } catch {
      // Inspect after a forced kill can race the engine's clean-up; the outcome is already known.
    }
    const logFile = join(this.#o.workDir, "logs", `${taskId}.log`);
    await this.#keepLogs(c, logFile);
    const exit: ContainerExit = {
      taskId,
      container: containerName(this.#o.tre, taskId),
      imageId,
      exitCode: stopped ? undefined : exitCode,
      oomKilled,
      ...(stopped ? { stopped } : {}),
      durationMs,
      logFile,
    };
    this.#o.onExit?.(exit);
    record?.("container.exited", {
      container: exit.container,
      image: imageId,
      ...(exit.exitCode === undefined ? {} : { exitCode: exit.exitCode }),
      oomKilled: exit.oomKilled,
      ...(exit.stopped ? { stopped: exit.stopped } : {}),
      durationMs: exit.durationMs,
      log: exit.logFile,
    });
    return exit;
  }

  async #keepLogs(c: Dockerode.Container, file: string): Promise<void> {
    const handle = await open(file, "w", 0o600);
    try {
      const raw = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      const text = demuxLogs(Buffer.from(raw), this.limits.maxLogBytes);
      await handle.writeFile(text);
    } catch {
      await handle.writeFile("(the container engine returned no logs)\n");
    } finally {
      await handle.close();
    }
  }
}

/** Every container, running or not, that carries TRE `tre`'s label: its task containers. */
export function treContainers(docker: Dockerode, tre: string): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: JSON.stringify({ label: [`${LABEL_TRE}=${tre}`] }) });
}

/**
 * stdout and stderr from the engine's multiplexed log stream (8-byte frame headers: stream, 0, 0, 0,
 * big-endian length), capped at `max` bytes. A stream without frame headers is kept as it came.
 */
function demuxLogs(raw: Buffer, max: number): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  let at = 0;
  const framed = raw.length >= 8 && raw[0]! <= 2 && raw[1] === 0 && raw[2] === 0 && raw[3] === 0;
  if (!framed) return raw.subarray(0, max);
  while (at + 8 <= raw.length && size < max) {
    const length = raw.readUInt32BE(at + 4);
    const body = raw.subarray(at + 8, Math.min(at + 8 + length, raw.length));
    const take = body.subarray(0, max - size);
    parts.push(take);
    size += take.length;
    at += 8 + length;
  }
  return Buffer.concat(parts);
}
