/**
 * CPU time and memory of the federation's processes, read from Linux's /proc: nats-server runs as child
 * processes, so `process.cpuUsage()` sees only this Node process (hub services, agents and researcher), and
 * the servers' share must be read from their own `/proc/<pid>/stat` and `/proc/<pid>/status`.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux in practice). */
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** User + system CPU seconds a process has used so far, or 0 once it is gone. */
function processCpuSeconds(pid: number): number {
  return cpuSecondsOf(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of this process's main thread alone (Linux numbers it as the process): the thread the V8 profiler
 * samples, without DuckDB's, libuv's and the garbage collector's helper threads.
 */
function mainThreadCpuSeconds(): number {
  return cpuSecondsOf(`/proc/${process.pid}/task/${process.pid}/stat`);
}

function cpuSecondsOf(statFile: string): number {
  try {
    const stat = readFileSync(statFile, "utf8");
    // Fields after the command name (which may hold spaces) start after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Resident set size of a process (`VmRSS`), in KiB, or 0 once it is gone. */
export function residentKiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/**
 * CPU seconds used by this Node process (every thread; its main thread alone), by the given nats-servers, and by
 * the given agent processes (each TRE's `tremesh leaf start`, when the leaves run as processes of their own).
 */
export interface CpuSnapshot {
  nodeSeconds: number;
  mainThreadSeconds: number;
  serverSeconds: number;
  agentSeconds: number;
}

export function cpuSnapshot(serverPids: readonly number[], agentPids: readonly number[] = []): CpuSnapshot {
  const own = process.cpuUsage();
  return {
    nodeSeconds: (own.user + own.system) / 1e6,
    mainThreadSeconds: mainThreadCpuSeconds(),
    serverSeconds: processesCpuSeconds(serverPids),
    agentSeconds: processesCpuSeconds(agentPids),
  };
}

/** User + system CPU seconds the given processes have used so far (those gone count 0). */
export function processesCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((s, pid) => s + processCpuSeconds(pid), 0);
}

/** CPU used between two snapshots. */
export function cpuSince(before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  return {
    nodeSeconds: after.nodeSeconds - before.nodeSeconds,
    mainThreadSeconds: after.mainThreadSeconds - before.mainThreadSeconds,
    serverSeconds: after.serverSeconds - before.serverSeconds,
    agentSeconds: after.agentSeconds - before.agentSeconds,
  };
}

/**
 * A full garbage collection on demand, so heap figures count live objects only. `npm run bench` starts Node
 * without `--expose-gc`; the flag set at run time applies to contexts made after it, so a fresh context
 * provides the same `gc` function. Made on first use.
 */
let collectGarbage: (() => void) | undefined;

export interface NodeMemory {
  heapUsedBytes: number;
  /** Memory of JavaScript objects held outside the heap (Buffers). */
  externalBytes: number;
  rssBytes: number;
}

/** This process's memory, in bytes, after a full collection. */
export function nodeMemory(): NodeMemory {
  if (!collectGarbage) {
    setFlagsFromString("--expose-gc");
    collectGarbage = runInNewContext("gc") as () => void;
  }
  collectGarbage();
  const m = process.memoryUsage();
  return { heapUsedBytes: m.heapUsed, externalBytes: m.external, rssBytes: m.rss };
}
