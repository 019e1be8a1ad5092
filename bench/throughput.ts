/**
 * Sustained throughput: subtasks (one task at one TRE) completed per second across 10 TREs. A fixed number of
 * researcher sessions each submit a count to every TRE and submit the next as soon as all its Releases are
 * stored at the hub, so a bounded number of tasks is always in flight. After a warm-up, a subtask completes when
 * its Release is stored at the hub (released by the TRE, verified and kept by the hub: what a researcher can
 * fetch); the rate is counted over a steady window.
 *
 * Also reported: task latency under that load, CPU over the window (this process: hub services, 10 agents and
 * the researcher; the 11 nats-servers), and the hub status tracker's backlog (status events and Releases in
 * the hub's results view not yet processed) at the start and end of the window, which grows when the hub's
 * sequential tracker, not the TREs, is what limits the rate, and the NATS messages each part sends per subtask.
 * With `leaves: "processes"` (deployed.ts) the agents run in processes of their own: their CPU is reported apart,
 * and their messages are not counted.
 *
 *   npm run bench -- throughput
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { submit } from "../aggregator/index.js";
import { streams } from "../protocol/index.js";
import {
  BENCH_PROJECT,
  type BenchFederation,
  COUNT_BY_SEX,
  startBenchFederation,
} from "./bench-federation.js";
import { rawProfileIfAsked } from "./cpu-profile.js";
import type { FloorResult } from "./floor.js";
import { formatLatency, latency, machine, ratio, round2 } from "./measure.js";
import { countNatsOps } from "./nats-ops.js";
import { cpuSince, cpuSnapshot, processesCpuSeconds } from "./process-usage.js";

/** The hub status tracker's durable consumer on the results view (hub/status-tracker.ts). */
const TRACKER_CONSUMER = "hub-status";

export interface ThroughputOptions {
  /** TREs; every task targets all of them. Default 10. */
  tres?: number;
  /** Tasks in flight (researcher sessions). Default 8. */
  inFlight?: number;
  /** Before the window opens, in ms. Default 10 000. */
  warmUpMs?: number;
  /** The counted window, in ms. Default 30 000. */
  windowMs?: number;
  /** Where the TREs' leaves run (`BenchFederationOptions.leaves`). Default "in-process". */
  leaves?: "in-process" | "processes";
}

export type ThroughputResult = Awaited<ReturnType<typeof runThroughputBench>>;

export async function runThroughputBench(
  floor: FloorResult,
  {
    tres = 10,
    inFlight = 8,
    warmUpMs = 10_000,
    windowMs = 30_000,
    leaves = "in-process",
  }: ThroughputOptions = {},
) {
  await using b = await startBenchFederation({ tres, leaves });
  // The steady state: past the set-up transient of the results sources (see BenchFederation.settle).
  await b.settle();
  const pids = () => [b.hubPid(), ...b.leafPids().values()];
  const backlog = await trackerBacklog(b);
  const stored: number[] = [];
  b.releases.onRelease((_taskId, _tre, at) => stored.push(at));

  const start = performance.now();
  const opens = start + warmUpMs;
  const closes = opens + windowMs;
  const taskMs: number[] = [];
  let stop = false;
  const session = async () => {
    while (!stop) {
      const submitted = performance.now();
      const reply = await submit(b.researcher, b.researcherKey, {
        project: BENCH_PROJECT,
        tres: [...b.tres],
        analysis: COUNT_BY_SEX,
      });
      if (reply.status !== "accepted") throw new Error(`submission refused: ${reply.code}: ${reply.message}`);
      const done = await b.releases.all(reply.taskId, b.tres.length, 120_000);
      if (submitted >= opens && done <= closes) taskMs.push(done - submitted);
    }
  };
  const sessions = Promise.all(Array.from({ length: inFlight }, session));
  // A session that fails (a refused task, a Release that never comes) ends the run at once.
  const until = (at: number) => Promise.race([sleepUntil(at), sessions]);

  await until(opens);
  const before = cpuSnapshot(pids(), b.agentPids());
  const hubBefore = processesCpuSeconds([b.hubPid()]);
  const backlogAtOpen = await backlog();
  const writeProfile = await rawProfileIfAsked();
  const counting = countNatsOps(b.researcher);
  await until(closes);
  const cpu = cpuSince(before, cpuSnapshot(pids(), b.agentPids()));
  const hubServerSeconds = processesCpuSeconds([b.hubPid()]) - hubBefore;
  const ops = counting.stop();
  await writeProfile();
  const backlogAtClose = await backlog();
  stop = true;
  await sessions;

  const completed = stored.filter((at) => at >= opens && at < closes).length;
  const seconds = windowMs / 1000;
  const perSecond = round2(completed / seconds);
  return {
    bench: "throughput",
    machine: machine(),
    tres,
    leaves,
    inFlightTasks: inFlight,
    setupMs: Math.round(b.setupMs),
    windowSeconds: seconds,
    subtasksCompleted: completed,
    subtasksPerSecond: perSecond,
    taskLatency: latency(taskMs),
    cpu: {
      nodeCoresUsed: round2(cpu.nodeSeconds / seconds),
      serverCoresUsed: round2(cpu.serverSeconds / seconds),
      nodeMsPerSubtask: round2((cpu.nodeSeconds * 1000) / completed),
      serverMsPerSubtask: round2((cpu.serverSeconds * 1000) / completed),
      agentCoresUsed: round2(cpu.agentSeconds / seconds),
      agentMsPerSubtask: round2((cpu.agentSeconds * 1000) / completed),
      hubServerMsPerSubtask: round2((hubServerSeconds * 1000) / completed),
    },
    trackerBacklog: { atOpen: backlogAtOpen, atClose: backlogAtClose },
    natsPerSubtask: Object.fromEntries(
      Object.entries(ops).map(([kind, n]) => [
        kind,
        {
          messages: round2(n.messages / completed),
          requests: round2(n.requests / completed),
          // The largest first; those under 0.1 per subtask (set-up, heartbeats) left out.
          requestsTo: Object.fromEntries(
            Object.entries(n.requestsTo)
              .map(([family, count]) => [family, round2(count / completed)] as const)
              .filter(([, perSubtask]) => perSubtask >= 0.1)
              .sort((x, y) => y[1] - x[1]),
          ),
        },
      ]),
    ),
    floor: { jetStreamPipelined: floor.jetStreamPipelined, jetStreamPublish: floor.jetStreamPublish },
    ratios: {
      toJetStreamPipelined: ratio(perSecond, floor.jetStreamPipelined.perSecond),
      toJetStreamSequential: ratio(perSecond, floor.jetStreamPublish.sequentialPerSecond),
    },
  };
}

/** Messages in the hub's results view that its status tracker has not yet taken. */
async function trackerBacklog(b: BenchFederation): Promise<() => Promise<number>> {
  const jsm = await jetstreamManager(await b.fed.connect("admin"));
  return async () => (await jsm.consumers.info(streams.fedResults, TRACKER_CONSUMER)).num_pending;
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));
}

export function printThroughputBench(r: ThroughputResult): void {
  console.log(
    `throughput — ${r.tres} TREs${r.leaves === "processes" ? " (each leaf its own process)" : ""}, ${r.inFlightTasks} tasks in flight, ${r.windowSeconds} s window; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date} (setup ${r.setupMs} ms)`,
  );
  console.log(
    `${"subtasks completed (Release stored at the hub)".padEnd(52)} ${r.subtasksPerSecond.toFixed(1).padStart(9)} /s  (${r.subtasksCompleted} in the window)`,
  );
  console.log(formatLatency(`task latency under load (${r.tres} TREs each)`, r.taskLatency));
  const agents =
    r.leaves === "processes"
      ? `, agent processes ${r.cpu.agentCoresUsed} cores (${r.cpu.agentMsPerSubtask} ms/subtask)`
      : "";
  console.log(
    `CPU: this process ${r.cpu.nodeCoresUsed} cores (${r.cpu.nodeMsPerSubtask} ms/subtask), nats-servers ${r.cpu.serverCoresUsed} cores (${r.cpu.serverMsPerSubtask} ms/subtask, the hub's ${r.cpu.hubServerMsPerSubtask})${agents}`,
  );
  if (r.leaves === "processes") {
    // This process is then the hub's services and the researcher alone.
    const hubMs = r.cpu.nodeMsPerSubtask + r.cpu.hubServerMsPerSubtask;
    console.log(
      `the hub's part: ${round2(hubMs)} ms of CPU a subtask (services and researcher, and its nats-server); at that cost two cores of its own would serve about ${Math.round((2 * 1000) / hubMs)} subtasks/s (an estimate from CPU time alone, every TRE on a machine of its own)`,
    );
  }
  console.log(
    `hub status tracker backlog: ${r.trackerBacklog.atOpen} at open, ${r.trackerBacklog.atClose} at close`,
  );
  const nats = Object.entries(r.natsPerSubtask)
    .map(([kind, n]) => `${kind} ${n.messages} (${n.requests} requests)`)
    .join(", ");
  console.log(`NATS messages sent per subtask: ${nats}`);
  for (const [kind, n] of Object.entries(r.natsPerSubtask)) {
    const to = Object.entries(n.requestsTo).map(([family, perSubtask]) => `${family} ${perSubtask}`);
    if (to.length > 0) console.log(`  ${kind} requests per subtask: ${to.join(", ")}`);
  }
  console.log(
    `ratio to JetStream publishes: ×${r.ratios.toJetStreamPipelined} of pipelined, ×${r.ratios.toJetStreamSequential} of one-at-a-time`,
  );
}
