/**
 * Graceful under contention: the throughput benchmark and the 100-TRE fan-out, first on a quiet machine, then with
 * CPU-burning processes beside them (two by default, started and stopped here), side by side, with the busy run's
 * slowdown against the quiet one (issue 21's bound: at most ×2.5).
 *
 *   npm run bench -- contention
 *   TREMESH_BURNERS=4 npm run bench -- contention
 */
import { type ChildProcess, spawn } from "node:child_process";
import { type FanoutResult, runFanoutBench } from "./fanout.js";
import type { FloorResult } from "./floor.js";
import { machine, round2 } from "./measure.js";
import { runThroughputBench, type ThroughputResult } from "./throughput.js";

/** Shorter than the benchmarks' own runs: each is run twice here. */
const THROUGHPUT = { tres: 10, inFlight: 8, warmUpMs: 5_000, windowMs: 20_000 };
const FANOUT = { sizes: [{ tres: 100, mode: "config" as const, rounds: 7 }] };
/** The slowdown the issue allows a busy machine. */
const ALLOWED_SLOWDOWN = 2.5;

export type ContentionResult = Awaited<ReturnType<typeof runContentionBench>>;

export async function runContentionBench(floor: FloorResult) {
  const burners = Number(process.env.TREMESH_BURNERS ?? 2);
  if (!Number.isInteger(burners) || burners < 1 || burners > 64)
    throw new RangeError(
      `TREMESH_BURNERS must be a whole number from 1 to 64, got ${process.env.TREMESH_BURNERS}`,
    );
  const quiet = await both(floor);
  const busy = await besideBurners(burners, () => both(floor));
  const throughputSlowdown = round2(quiet.throughput.subtasksPerSecond / busy.throughput.subtasksPerSecond);
  const fanoutSlowdown = round2(p50(busy.fanout) / p50(quiet.fanout));
  return {
    bench: "contention",
    machine: machine(),
    burners,
    quiet: summary(quiet),
    busy: summary(busy),
    slowdown: { throughput: throughputSlowdown, fanout100: fanoutSlowdown, allowed: ALLOWED_SLOWDOWN },
    withinBound: throughputSlowdown <= ALLOWED_SLOWDOWN && fanoutSlowdown <= ALLOWED_SLOWDOWN,
  };
}

async function both(floor: FloorResult) {
  const throughput = await runThroughputBench(floor, THROUGHPUT);
  const fanout = await runFanoutBench(floor, FANOUT);
  return { throughput, fanout };
}

function p50(r: FanoutResult): number {
  return r.sizes[0]!.submitToAllStored.p50Ms;
}

function summary({ throughput, fanout }: { throughput: ThroughputResult; fanout: FanoutResult }) {
  return {
    subtasksPerSecond: throughput.subtasksPerSecond,
    taskLatency: throughput.taskLatency,
    fanout100: fanout.sizes[0]!.submitToAllStored,
  };
}

/** Runs `work` with `n` processes each spinning one core, and stops them however it ends. */
async function besideBurners<T>(n: number, work: () => Promise<T>): Promise<T> {
  const burning: ChildProcess[] = Array.from({ length: n }, () =>
    spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
  );
  try {
    return await work();
  } finally {
    for (const b of burning) b.kill("SIGKILL");
  }
}

export function printContentionBench(r: ContentionResult): void {
  console.log(
    `contention — beside ${r.burners} CPU-burning processes; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date}`,
  );
  const row = (label: string, quiet: string, busy: string, slowdown: number) =>
    console.log(`${label.padEnd(44)} ${quiet.padStart(14)} ${busy.padStart(14)}   ×${slowdown}`);
  console.log(`${"".padEnd(44)} ${"quiet".padStart(14)} ${"busy".padStart(14)}   slowdown`);
  row(
    "throughput, 10 TREs (subtasks/s)",
    r.quiet.subtasksPerSecond.toFixed(1),
    r.busy.subtasksPerSecond.toFixed(1),
    r.slowdown.throughput,
  );
  row(
    "  task latency p50 / p99 (ms)",
    `${r.quiet.taskLatency.p50Ms} / ${r.quiet.taskLatency.p99Ms}`,
    `${r.busy.taskLatency.p50Ms} / ${r.busy.taskLatency.p99Ms}`,
    round2(r.busy.taskLatency.p50Ms / r.quiet.taskLatency.p50Ms),
  );
  row(
    "fan-out to 100 TREs, p50 (ms)",
    String(r.quiet.fanout100.p50Ms),
    String(r.busy.fanout100.p50Ms),
    r.slowdown.fanout100,
  );
  console.log(`within ×${r.slowdown.allowed} of the quiet run: ${r.withinBound ? "yes" : "no"}`);
}
