/**
 * The end-to-end and throughput figures with each TRE's leaf run as a TRE deploys it: its own `tremesh leaf start`
 * process (agent and nats-server), not in this Node process beside the hub's services. In a real federation each
 * TRE's agent has a machine of its own; here every process still shares the same two cores, so this shows what
 * comes of the work no longer queueing on one Node main thread, not what more machines would give.
 *
 * - end to end: the same 3-TRE count as e2e.ts (count-task.ts), sequential after a warm-up, with CPU per task of
 *   this process (the hub's services and the researcher), the agent processes and the nats-servers;
 * - throughput: throughput.ts with `leaves: "processes"`.
 *
 *   npm run bench -- deployed
 */
import { startBenchFederation } from "./bench-federation.js";
import { countTaskLatencies, printCountTaskLatencies, runCountTasks } from "./count-task.js";
import { perTask } from "./e2e.js";
import type { FloorResult } from "./floor.js";
import { machine, ratio, round2 } from "./measure.js";
import { cpuSince, cpuSnapshot } from "./process-usage.js";
import { printThroughputBench, runThroughputBench } from "./throughput.js";

const TRES = 3;

export interface DeployedOptions {
  /** Timed end-to-end tasks. Default 200. */
  tasks?: number;
  /** Untimed tasks first. Default 20. */
  warmUp?: number;
}

export type DeployedResult = Awaited<ReturnType<typeof runDeployedBench>>;

export async function runDeployedBench(
  floor: FloorResult,
  { tasks = 200, warmUp = 20 }: DeployedOptions = {},
) {
  const e2e = await endToEnd(floor, tasks, warmUp);
  const throughput = await runThroughputBench(floor, { leaves: "processes" });
  return { bench: "deployed", machine: machine(), e2e, throughput };
}

async function endToEnd(floor: FloorResult, tasks: number, warmUp: number) {
  await using b = await startBenchFederation({ tres: TRES, leaves: "processes" });
  await b.settle();
  const servers = () => [b.hubPid(), ...b.leafPids().values()];
  await runCountTasks(b, warmUp);
  const before = cpuSnapshot(servers(), b.agentPids());
  const runs = await runCountTasks(b, tasks);
  const cpu = cpuSince(before, cpuSnapshot(servers(), b.agentPids()));
  const latencies = countTaskLatencies(runs);
  const total = latencies.total;
  return {
    tres: TRES,
    setupMs: Math.round(b.setupMs),
    ...latencies,
    cpuPerTask: { ...perTask(cpu, tasks), agentsMs: round2((cpu.agentSeconds * 1000) / tasks) },
    floor: { leafRoundTrip: floor.leafRoundTrip },
    ratios: {
      p50ToLeafRoundTrip: ratio(total.p50Ms, floor.leafRoundTrip.p50Ms),
      p99ToLeafRoundTrip: ratio(total.p99Ms, floor.leafRoundTrip.p99Ms),
    },
  };
}

export function printDeployedBench(r: DeployedResult): void {
  const e = r.e2e;
  console.log(
    `end to end, each leaf its own process — a count on ${e.tres} TREs, auto-release; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date} (setup ${e.setupMs} ms)`,
  );
  printCountTaskLatencies(e);
  console.log(
    `ratios to the leaf round trip: p50 ×${e.ratios.p50ToLeafRoundTrip}, p99 ×${e.ratios.p99ToLeafRoundTrip}`,
  );
  const c = e.cpuPerTask;
  console.log(
    `CPU per task: this process (hub services, researcher) ${c.nodeMs} ms (main thread ${c.mainThreadMs} ms), agent processes ${c.agentsMs} ms, nats-servers ${c.serverMs} ms`,
  );
  printThroughputBench(r.throughput);
}
