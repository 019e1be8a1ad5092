/**
 * Stopping a demo federation: by the demo itself when it ends, or later by `tremesh demo stop DIR` after
 * `--keep`. Only processes pids.json shows to be still the demo's are signalled (cli/demo-pids.ts); a process
 * id now used by another program is left alone. pids.json is removed once nothing of the demo runs.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { AdminStore } from "../admin/index.js";
import { releaseStorageMounts } from "../fixtures/index.js";
import { DEMO_ENGINE_DIR } from "./demo-federation.js";
import { DemoPids, DemoPidsFileError, PIDS_FILE, type RunningDemo } from "./demo-pids.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { stillRunning } from "./process-identity.js";

/** What stopping found: which of the demo's process groups still ran, which had ended, and how many processes ran. */
export interface DemoStopped {
  names: string[];
  ended: string[];
  processes: number;
}

/** How long the demo's processes get to stop after SIGTERM (JetStream flushes), and after SIGKILL. */
const TERM_GRACE_MS = 10_000;
const KILL_GRACE_MS = 5_000;
const POLL_MS = 100;

/**
 * Stops every process of the demo `pids` records that still runs (SIGTERM, then SIGKILL after the grace),
 * lifts the mounts its container engine leaves behind and removes pids.json. Throws, keeping pids.json, if a
 * process outlives SIGKILL.
 */
export async function stopDemo(pids: DemoPids): Promise<DemoStopped> {
  pids.stopping = true;
  const found = pids.running();
  if (found.processes.length > 0) {
    signal(found, "SIGTERM");
    if (!(await gone(pids, TERM_GRACE_MS))) signal(pids.running(), "SIGKILL");
    if (!(await gone(pids, KILL_GRACE_MS))) {
      const left = pids.running();
      throw new Error(
        `${left.names.join(", ")} (process ids ${left.processes.map((p) => p.pid).join(", ")}) still running after SIGKILL; ` +
          `${join(pids.dir, PIDS_FILE)} is kept`,
      );
    }
  }
  await releaseStorageMounts(join(pids.dir, DEMO_ENGINE_DIR));
  await pids.removeFile();
  const ended = pids.processes.map((p) => p.name).filter((name) => !found.names.includes(name));
  return { names: found.names, ended, processes: found.processes.length };
}

/**
 * `tremesh demo stop DIR`: stops the federation a `--keep` demo left running in DIR; a CliError when DIR
 * holds no demo, or nothing of it runs any more (its stale pids.json is removed then).
 */
export async function stopDemoIn(dir: string): Promise<DemoStopped> {
  const pids = await loadPids(dir);
  if (pids === undefined)
    throw new CliError(
      `demo stop: ${dir} holds no running demo (no ${PIDS_FILE}); give the folder that \`tremesh demo --keep --dir DIR\` printed`,
      ExitCode.badInput,
    );
  let stopped: DemoStopped;
  try {
    stopped = await stopDemo(pids);
  } catch (cause) {
    throw new CliError(`demo stop: ${(cause as Error).message}`, ExitCode.failed, { cause });
  }
  if (stopped.processes === 0)
    throw new CliError(
      `demo stop: no demo federation is running in ${dir}: nothing its ${PIDS_FILE} named still runs, ` +
        `so nothing was signalled and ${PIDS_FILE} is removed`,
      ExitCode.badInput,
    );
  return stopped;
}

/**
 * Refuses, before anything is written or started, a `--dir` that holds a demo already: running (its processes
 * would be left without a record) or stopped (`tremesh admin init` would refuse its admin folder half-way).
 */
export async function refuseUsedDemoFolder(dir: string): Promise<void> {
  const pids = await DemoPids.load(dir).catch(() => undefined);
  if (pids && pids.running().processes.length > 0)
    throw new CliError(
      `demo: ${dir} holds a running demo federation; nothing was changed. Give another --dir, or stop it ` +
        `with \`tremesh demo stop ${dir}\` and remove the folder first`,
      ExitCode.failed,
    );
  const admin = join(dir, "admin");
  if (new AdminStore(admin).exists)
    throw new CliError(
      `demo: ${dir} already holds a demo federation (${admin}); nothing was changed. ` +
        "Give another --dir, or remove the folder first",
      ExitCode.failed,
    );
}

async function loadPids(dir: string): Promise<DemoPids | undefined> {
  try {
    return await DemoPids.load(dir);
  } catch (cause) {
    if (cause instanceof DemoPidsFileError)
      throw new CliError(`demo stop: ${cause.message}`, ExitCode.badInput, { cause });
    throw cause;
  }
}

/** Signals the groups whose leader runs as groups (leaves before the hub: reverse start order), the strays one by one. */
function signal(found: RunningDemo, sig: NodeJS.Signals): void {
  const send = (pid: number) => {
    try {
      process.kill(pid, sig);
    } catch {
      // ended meanwhile
    }
  };
  for (const group of [...found.groups].reverse()) send(-group.pid);
  for (const stray of found.strays) if (stillRunning(stray)) send(stray.pid);
}

/** True once nothing of the demo runs, false if something still does after `timeoutMs`. */
async function gone(pids: DemoPids, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pids.running().processes.length > 0) {
    if (Date.now() > deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}
