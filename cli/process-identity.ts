/**
 * What tells one process from another that later gets the same number: its start time (clock ticks since
 * boot, `/proc/PID/stat` field 22) on this boot (`/proc/sys/kernel/random/boot_id`). A process id alone is
 * reused once its process ends, so whoever signals a recorded process id checks these first. Linux only:
 * where there is no /proc, nothing here can be read and every reader returns undefined.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessStat {
  pid: number;
  /** Its process group: a group leader's own pid. */
  pgid: number;
  /** Clock ticks after boot at which it started; with `bootId`, unique to this process. */
  startTicks: number;
  /** True once it has ended and only waits for its parent to collect its exit status. */
  zombie: boolean;
}

/** This boot's id, or undefined without /proc. */
export function bootId(): string | undefined {
  return readText("/proc/sys/kernel/random/boot_id")?.trim();
}

/** What /proc says of `pid` now, or undefined when no such process runs (or there is no /proc). */
export function processStat(pid: number): ProcessStat | undefined {
  const text = readText(`/proc/${pid}/stat`);
  // The command name, in parentheses, may hold spaces and parentheses itself: fields start after the last ")".
  const fields = text?.slice(text.lastIndexOf(")") + 2).split(" ");
  if (fields === undefined || fields.length < 20) return undefined;
  return {
    pid,
    pgid: Number(fields[2]),
    startTicks: Number(fields[19]),
    zombie: fields[0] === "Z",
  };
}

/** True while the process that started at `startTicks` as `pid` runs (an ended one waiting to be collected does not). */
export function stillRunning(p: { pid: number; startTicks: number }): boolean {
  const now = processStat(p.pid);
  return now !== undefined && now.startTicks === p.startTicks && !now.zombie;
}

/** Every process running now (ended ones waiting to be collected left out); none without /proc. */
export function runningProcesses(): ProcessStat[] {
  let names: string[];
  try {
    names = readdirSync("/proc");
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const stat = /^\d+$/.test(name) ? processStat(Number(name)) : undefined;
    return stat && !stat.zombie ? [stat] : [];
  });
}

/** True when `pid`'s environment, as it was started, holds `entry` (`NAME=value`). */
export function environmentHas(pid: number, entry: string): boolean {
  return readText(`/proc/${pid}/environ`)?.split("\0").includes(entry) ?? false;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}
