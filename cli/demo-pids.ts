/**
 * pids.json: the process groups a demo started (the hub, each TRE's leaf, Podman, the pages), each recorded
 * with what tells it from a later process that gets the same number, so that stopping the demo signals only
 * processes that are still the demo's. A group leader is the demo's while the process with its pid started
 * at the recorded clock tick of the recorded boot. Every process the demo starts also carries this run's
 * mark in its environment (`TREMESH_DEMO_RUN`), which its children (the nats-servers, Podman's) inherit: a
 * child left in a group whose leader has ended is the demo's when it carries the mark.
 *
 * Linux only: the identities come from /proc (cli/process-identity.ts).
 */
import { randomBytes } from "node:crypto";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CliError, ExitCode } from "./exit-codes.js";
import {
  bootId,
  environmentHas,
  type ProcessStat,
  processStat,
  runningProcesses,
} from "./process-identity.js";

export const PIDS_FILE = "pids.json";
/** The environment variable that marks a process, and every process it starts, as one demo run's. */
export const DEMO_RUN_ENV = "TREMESH_DEMO_RUN";
const FORMAT = "tremesh.demo-pids.v1";

/** One process group the demo started: `pid` is its leader's, and the group's id. */
export interface DemoProcessRecord {
  /** What it is, as its log file is named: "hub", "leaf-north", "podman", … */
  name: string;
  pid: number;
  /** When it started, in clock ticks after boot (/proc/PID/stat). */
  startTicks: number;
}

interface PidsFileV1 {
  format: typeof FORMAT;
  bootId: string;
  run: string;
  processes: DemoProcessRecord[];
}

/** What of a demo runs now: the groups whose leader is still the demo's, and every process to stop. */
export interface RunningDemo {
  /** Recorded groups whose leader runs: signalled as a group. */
  groups: DemoProcessRecord[];
  /** Processes of the demo's groups whose leader has ended, each known by the run's mark: signalled one by one. */
  strays: ProcessStat[];
  /** Every running process of the demo: the groups' members and the strays. */
  processes: ProcessStat[];
  /** The names of the recorded groups that still have a process running. */
  names: string[];
}

/** A pids.json that does not say which processes are the demo's: an older tremesh's, or not the demo's at all. */
export class DemoPidsFileError extends Error {
  override readonly name = "DemoPidsFileError";
}

/** The record of one demo run's processes, in memory and in `dir/pids.json`. */
export class DemoPids {
  readonly processes: DemoProcessRecord[];
  /** Set once the demo is being stopped: a process that ends now is not a death to report. */
  stopping = false;
  /** The last change of pids.json queued (see `queue`). */
  private changing: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly bootId: string,
    readonly run: string,
    processes: DemoProcessRecord[],
  ) {
    this.processes = processes;
  }

  /** A new, empty record for a demo about to start in `dir`; a CliError on a system without /proc. */
  static create(dir: string): DemoPids {
    const boot = bootId();
    if (boot === undefined)
      throw new CliError(
        "demo: runs on Linux only: it needs /proc to tell its own processes from others' when it stops them",
        ExitCode.failed,
      );
    return new DemoPids(dir, boot, randomBytes(12).toString("hex"), []);
  }

  /** The record `dir/pids.json` holds, or undefined when there is none; DemoPidsFileError when it is not one. */
  static async load(dir: string): Promise<DemoPids | undefined> {
    const file = join(dir, PIDS_FILE);
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw cause;
    }
    const data = parseJson(text);
    if (Array.isArray(data))
      throw new DemoPidsFileError(
        `${file} was written by an older tremesh and does not say which processes are the demo's, so none was signalled; ` +
          `stop the demo's processes yourself if they still run (process ids ${data.join(", ")}), then remove ${file}`,
      );
    if (!isPidsFile(data))
      throw new DemoPidsFileError(`${file} is not a demo's record of its processes; nothing was signalled`);
    return new DemoPids(dir, data.bootId, data.run, data.processes);
  }

  /** The environment a demo process starts with: this one's, and the run's mark. */
  env(): NodeJS.ProcessEnv {
    return { ...process.env, [DEMO_RUN_ENV]: this.run };
  }

  /**
   * Records the group `pid` leads under `name`, and writes pids.json. Call it as soon as the process is
   * started: it reads the start time while the process exists. A process already gone is not recorded.
   */
  async add(name: string, pid: number): Promise<void> {
    const stat = processStat(pid);
    if (stat === undefined) return;
    this.processes.push({ name, pid, startTicks: stat.startTicks });
    await this.write();
  }

  /** Forgets `pid` (a process stopped on its own), and writes pids.json. */
  async remove(pid: number): Promise<void> {
    const i = this.processes.findIndex((p) => p.pid === pid);
    if (i >= 0) this.processes.splice(i, 1);
    await this.write();
  }

  /** What of this demo runs now; nothing on another boot. */
  running(): RunningDemo {
    const found: RunningDemo = { groups: [], strays: [], processes: [], names: [] };
    if (bootId() !== this.bootId) return found;
    const byGroup = new Map<number, ProcessStat[]>();
    for (const p of runningProcesses()) byGroup.set(p.pgid, [...(byGroup.get(p.pgid) ?? []), p]);
    const mark = `${DEMO_RUN_ENV}=${this.run}`;
    for (const record of this.processes) {
      const members = byGroup.get(record.pid) ?? [];
      const leader = processStat(record.pid);
      if (leader !== undefined) {
        // A process with the group's number started at another time: the number is someone else's now.
        if (leader.startTicks !== record.startTicks || members.length === 0) continue;
        found.groups.push(record);
        found.processes.push(...members);
      } else {
        // The leader has ended, leaving processes it started in its group: the demo's if they carry the mark.
        const strays = members.filter(
          (m) => m.startTicks >= record.startTicks && environmentHas(m.pid, mark),
        );
        if (strays.length === 0) continue;
        found.strays.push(...strays);
        found.processes.push(...strays);
      }
      found.names.push(record.name);
    }
    return found;
  }

  /** Removes pids.json: nothing it names runs any more. */
  removeFile(): Promise<void> {
    return this.queue(() => rm(join(this.dir, PIDS_FILE), { force: true }));
  }

  private write(): Promise<void> {
    return this.queue(() => {
      const data: PidsFileV1 = {
        format: FORMAT,
        bootId: this.bootId,
        run: this.run,
        processes: this.processes,
      };
      return writeFile(join(this.dir, PIDS_FILE), `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
    });
  }

  /**
   * One change of pids.json at a time, each writing the record as it is when its turn comes: Podman and the hub
   * start at once, and an earlier, shorter list must not land last.
   */
  private queue(change: () => Promise<void>): Promise<void> {
    const next = this.changing.then(change);
    this.changing = next.catch(() => undefined);
    return next;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isPidsFile(data: unknown): data is PidsFileV1 {
  const d = data as Partial<PidsFileV1> | undefined;
  return (
    d?.format === FORMAT &&
    typeof d.bootId === "string" &&
    typeof d.run === "string" &&
    Array.isArray(d.processes) &&
    d.processes.every(
      (p) =>
        typeof p?.name === "string" &&
        Number.isInteger(p.pid) &&
        p.pid > 1 &&
        Number.isInteger(p.startTicks) &&
        p.startTicks >= 0,
    )
  );
}
