/**
 * Fan-out to many TREs on one machine: 20, 50, then 100 TREs, each a real leaf nats-server dialling the hub and an
 * agent, started as the federation harness starts them (bench-federation.ts). A count goes to every TRE; the
 * figure is the time from submit until every TRE's Release is stored at the hub, and until the researcher has
 * fetched, verified and combined them all.
 *
 * The large federations are set up in config mode (operator-mode onboarding takes one to two seconds per TRE).
 * Twenty TREs are run in both modes first, so the two can be compared: in operator mode the hub's source of a
 * leaf's OUTBOX goes quiet after a burst until the hub's stale-source check restarts it.
 *
 * One task names every TRE (a task's TRE list used to overflow an audit detail past about 50 names; the hub now
 * cuts the list it audits, and the task record keeps it whole).
 *
 * Memory per TRE, after the tasks:
 * - each leaf nats-server's resident set (`VmRSS` in /proc/<pid>/status);
 * - the agents' share of this process: its live JavaScript heap plus external memory (nats.js's buffers), after
 *   a full collection, minus the same before any leaf started (with the hub services running), divided by the
 *   number of TREs. DuckDB's native memory is not in it (it is freed when each run closes its instance).
 *
 *   npm run bench -- fanout
 */
import { type BenchFederation, startBenchFederation } from "./bench-federation.js";
import { runCountTask } from "./count-task.js";
import { rawProfileIfAsked } from "./cpu-profile.js";
import type { FloorResult } from "./floor.js";
import { formatLatency, latency, machine, ratio, round2 } from "./measure.js";
import { nodeMemory, residentKiB } from "./process-usage.js";

/** One federation of the run: its size, how it is set up, and how many timed fan-outs (after one untimed). */
export interface FanoutSize {
  tres: number;
  mode: "operator" | "config";
  rounds: number;
}

export const DEFAULT_FANOUT_SIZES: readonly FanoutSize[] = [
  { tres: 20, mode: "operator", rounds: 10 },
  { tres: 20, mode: "config", rounds: 10 },
  { tres: 50, mode: "config", rounds: 3 },
  { tres: 100, mode: "config", rounds: 7 },
];

export interface FanoutOptions {
  /** Federations, one after the other. Default `DEFAULT_FANOUT_SIZES`. */
  sizes?: readonly FanoutSize[];
  /** Leaves started at once. Default 8. */
  startConcurrency?: number;
}

export type FanoutResult = Awaited<ReturnType<typeof runFanoutBench>>;

export async function runFanoutBench(
  floor: FloorResult,
  { sizes = DEFAULT_FANOUT_SIZES, startConcurrency = 8 }: FanoutOptions = {},
) {
  const results = [];
  for (const size of sizes) results.push(await fanout(size, startConcurrency, floor));
  return {
    bench: "fanout",
    machine: machine(),
    sizes: results,
    floor: { leafRoundTrip: floor.leafRoundTrip },
  };
}

async function fanout({ tres, mode, rounds }: FanoutSize, startConcurrency: number, floor: FloorResult) {
  await using b = await startBenchFederation({ tres, startConcurrency, mode });
  // The first task right after set-up is reported on its own; the timed rounds run once the federation settled.
  const first = await fanOutOnce(b);
  await b.settle();
  const runs = [];
  const writeProfile = await rawProfileIfAsked(`${tres}-${mode}`);
  for (let i = 0; i < rounds; i++) runs.push(await fanOutOnce(b));
  await writeProfile();
  const stored = latency(runs.map((r) => r.storedMs));
  const combined = latency(runs.map((r) => r.combinedMs));
  return {
    tres,
    mode,
    setupMs: Math.round(b.setupMs),
    firstAfterSetup: { storedMs: Math.round(first.storedMs), combinedMs: Math.round(first.combinedMs) },
    submitToAllStored: stored,
    submitToCombined: combined,
    memory: memoryPerTre(b),
    ratios: {
      storedP50ToLeafRoundTrip: ratio(stored.p50Ms, floor.leafRoundTrip.p50Ms),
      combinedP50ToLeafRoundTrip: ratio(combined.p50Ms, floor.leafRoundTrip.p50Ms),
    },
  };
}

/** One count to every TRE: the times until every Release is stored and until they are combined, from the submit. */
async function fanOutOnce(b: BenchFederation) {
  // A task to 100 TREs takes the hub far longer than one to 3: the timeout grows with the fan-out.
  const run = await runCountTask(b, b.tres, 60_000 + 2_000 * b.tres.length);
  return { storedMs: run.storedMs, combinedMs: run.totalMs };
}

function memoryPerTre(b: BenchFederation) {
  const mib = (bytes: number) => round2(bytes / 2 ** 20);
  const leaves = [...b.leafPids().values()].map((pid) => residentKiB(pid) * 1024);
  const now = nodeMemory();
  const before = b.memoryBeforeLeaves;
  return {
    leafServerRssMiB: {
      mean: mib(leaves.reduce((s, x) => s + x, 0) / leaves.length),
      min: mib(Math.min(...leaves)),
      max: mib(Math.max(...leaves)),
    },
    agentHeapMiB: mib(
      (now.heapUsedBytes + now.externalBytes - before.heapUsedBytes - before.externalBytes) / b.tres.length,
    ),
    hubServerRssMiB: mib(residentKiB(b.hubPid()) * 1024),
    nodeProcessRssMiB: mib(now.rssBytes),
  };
}

export function printFanoutBench(r: FanoutResult): void {
  console.log(
    `fan-out — ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date}`,
  );
  for (const s of r.sizes) {
    console.log(`${s.tres} TREs, ${s.mode} mode, one task (setup ${(s.setupMs / 1000).toFixed(1)} s)`);
    console.log(
      `  first task right after set-up: every Release stored in ${s.firstAfterSetup.storedMs} ms, combined in ${s.firstAfterSetup.combinedMs} ms`,
    );
    console.log("  then, 40 s after the last leaf linked:");
    console.log(formatLatency("  submit → every Release stored at the hub", s.submitToAllStored));
    console.log(formatLatency("  submit → combined result", s.submitToCombined));
    const m = s.memory;
    console.log(
      `  per TRE: leaf nats-server RSS ${m.leafServerRssMiB.mean} MiB (${m.leafServerRssMiB.min}–${m.leafServerRssMiB.max}), agent ${m.agentHeapMiB} MiB of heap; hub nats-server RSS ${m.hubServerRssMiB} MiB`,
    );
    console.log(`  ratio to the leaf round trip: ×${s.ratios.storedP50ToLeafRoundTrip}`);
  }
}
