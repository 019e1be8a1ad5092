/**
 * End-to-end latency of a 3-TRE count with auto-release on: from the researcher signing the Submission to the
 * researcher holding the combined result of the 3 verified Releases (see count-task.ts). Sequential tasks after a
 * warm-up, on the bench federation (bench-federation.ts). Besides the distribution it reports:
 *
 * - where the time goes: each TRE's transitions as the hub recorded them, and the hub's share after the last
 *   Release left its TRE;
 * - the query executor alone on the same DuckDB file (the part no messaging can remove);
 * - CPU per task: this process (hub services, 3 agents, researcher) from `process.cpuUsage()`, and the 4
 *   nats-servers from /proc, over the timed tasks;
 * - crypto and encoding as a share of that CPU, measured with V8's sampling profiler over further tasks
 *   (cpu-profile.ts: each category's share of the main thread's sampled busy time, times the main thread's CPU
 *   from /proc), and estimated the other way round — envelopes per task from the message flow times their
 *   micro-benchmarked cost (crypto.ts) — as a cross-check;
 * - the CLI path: `tremesh submit --wait` then `tremesh aggregate --json`, each connecting once and following the
 *   task by the hub's push; run in this process (the CLI's own work) and as a researcher runs it, each command a
 *   process of its own (Node's start and the CLI's loading included); and `tremesh submit --aggregate --json`, the
 *   same answer in one command, as a process.
 *
 *   npm run bench -- e2e
 */
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { fetchTask } from "../aggregator/index.js";
import { QueryExecutor } from "../executors/index.js";
import { newId, type TaskView } from "../protocol/index.js";
import {
  BENCH_PROJECT,
  BENCH_RESEARCHER,
  type BenchFederation,
  COUNT_BY_SEX,
  patientsDataset,
  patientsFile,
  startBenchFederation,
} from "./bench-federation.js";
import {
  type CountTaskRun,
  countTaskLatencies,
  printCountTaskLatencies,
  runCountTasks,
} from "./count-task.js";
import { CPU_CATEGORIES, type CpuAttribution, profileCpu } from "./cpu-profile.js";
import { envelopeCostsUs, envelopesPerTask } from "./crypto.js";
import type { FloorResult } from "./floor.js";
import { formatLatency, type Latency, latency, machine, ratio, round2 } from "./measure.js";
import { type CpuSnapshot, cpuSince, cpuSnapshot } from "./process-usage.js";

const TRES = 3;
const execFileAsync = promisify(execFile);

export interface E2eOptions {
  /** Timed tasks. Default 200. */
  tasks?: number;
  /** Untimed tasks first (JIT, caches, streams' first writes). Default 20. */
  warmUp?: number;
  /** Tasks run under the CPU profiler. Default 100. */
  profiledTasks?: number;
  /** Tasks through the CLI (`submit --wait`, `aggregate`). Default 20. */
  cliTasks?: number;
  /** Runs of the query executor alone. Default 50. */
  executorRuns?: number;
}

export type E2eResult = Awaited<ReturnType<typeof runE2eBench>>;

export async function runE2eBench(
  floor: FloorResult,
  { tasks = 200, warmUp = 20, profiledTasks = 100, cliTasks = 20, executorRuns = 50 }: E2eOptions = {},
) {
  await using b = await startBenchFederation({ tres: TRES });
  // The steady state: past the set-up transient of the results sources (see BenchFederation.settle).
  await b.settle();
  const pids = () => [b.hubPid(), ...b.leafPids().values()];
  await runCountTasks(b, warmUp);

  const before = cpuSnapshot(pids());
  const runs = await runCountTasks(b, tasks);
  const cpu = perTask(cpuSince(before, cpuSnapshot(pids())), tasks);
  const latencies = countTaskLatencies(runs);
  const total = latencies.total;

  const profiled = await profileCpu(async () => {
    const start = cpuSnapshot(pids());
    await runCountTasks(b, profiledTasks);
    return perTask(cpuSince(start, cpuSnapshot(pids())), profiledTasks);
  });
  const cryptoShare = profileShares(profiled.cpu, profiled.value);
  const costs = envelopeCostsUs();
  const envelopes = envelopesPerTask(TRES);
  const estimatedMs = (envelopes.sealed * costs.sealUs + envelopes.opened * costs.openUs) / 1000;

  const stageLatencies = await stages(b, runs);
  const executor = await executorAlone(b, executorRuns);
  const cli = await cliPath(b, cliTasks, (argv) => b.fed.cli(argv, BENCH_RESEARCHER));
  const cliProcesses = await cliPath(b, cliTasks, (argv) => cliProcess(b, argv));
  const cliOneProcess = await cliOneCommand(b, cliTasks, (argv) => cliProcess(b, argv));
  return {
    bench: "e2e",
    machine: machine(),
    tres: TRES,
    analysis: COUNT_BY_SEX,
    setupMs: Math.round(b.setupMs),
    ...latencies,
    stages: stageLatencies,
    executorAlone: executor,
    cliPath: cli,
    cliProcesses,
    cliOneProcess,
    cpuPerTask: cpu,
    crypto: {
      profiled: cryptoShare,
      estimate: {
        envelopesPerTask: envelopes,
        sealUs: round2(costs.sealUs),
        openUs: round2(costs.openUs),
        msPerTask: round2(estimatedMs),
        percentOfNodeCpu: round2((100 * estimatedMs) / cpu.nodeMs),
        percentOfAllCpu: round2((100 * estimatedMs) / (cpu.nodeMs + cpu.serverMs)),
      },
    },
    floor: { leafRoundTrip: floor.leafRoundTrip, jetStreamPublish: floor.jetStreamPublish },
    ratios: {
      p50ToLeafRoundTrip: ratio(total.p50Ms, floor.leafRoundTrip.p50Ms),
      p99ToLeafRoundTrip: ratio(total.p99Ms, floor.leafRoundTrip.p99Ms),
      p50ToJetStreamPublish: ratio(total.p50Ms, floor.jetStreamPublish.p50Ms),
      cliP50ToLeafRoundTrip: ratio(cli.p50Ms, floor.leafRoundTrip.p50Ms),
      executorP50ToLeafRoundTrip: ratio(executor.p50Ms, floor.leafRoundTrip.p50Ms),
      cryptoCpuToLeafRoundTrip: ratio(cryptoShare.crypto.msPerTask, floor.leafRoundTrip.p50Ms),
    },
  };
}

export interface CpuPerTask {
  /** This process, every thread. */
  nodeMs: number;
  /** This process's main thread: hub services, agents and researcher code, and what they call synchronously. */
  mainThreadMs: number;
  /** The hub's and the leaves' nats-servers. */
  serverMs: number;
}

/** CPU per task, in ms. */
export function perTask(cpu: CpuSnapshot, tasks: number): CpuPerTask {
  const ms = (seconds: number) => round2((seconds * 1000) / tasks);
  return {
    nodeMs: ms(cpu.nodeSeconds),
    mainThreadMs: ms(cpu.mainThreadSeconds),
    serverMs: ms(cpu.serverSeconds),
  };
}

/**
 * Each profiled category's CPU per task and its share of this process's CPU and of all the federation's.
 *
 * The profiler charges wall time between samples to the stack it finds, so on a busy machine a category's
 * sampled milliseconds include time the thread waited to be scheduled. Its share of the sampled busy time does
 * not depend on that, and that share of the main thread's measured CPU is the category's CPU.
 */
function profileShares(cpu: CpuAttribution, perTaskCpu: CpuPerTask) {
  const all = perTaskCpu.nodeMs + perTaskCpu.serverMs;
  const share = (sampledMs: number) => {
    const ms = (sampledMs / cpu.busyMs) * perTaskCpu.mainThreadMs;
    return {
      msPerTask: round2(ms),
      percentOfNodeCpu: round2((100 * ms) / perTaskCpu.nodeMs),
      percentOfAllCpu: round2((100 * ms) / all),
    };
  };
  const sum = (kind: string) =>
    CPU_CATEGORIES.filter((c) => c.kind === kind).reduce((s, c) => s + cpu.categories[c.name], 0);
  return {
    cpuPerTask: perTaskCpu,
    gcShareOfMainThread: round2((100 * cpu.gcMs) / cpu.busyMs),
    categories: Object.fromEntries(CPU_CATEGORIES.map((c) => [c.name, share(cpu.categories[c.name])])),
    crypto: share(sum("crypto")),
    encoding: share(sum("encoding")),
    cryptoAndEncoding: share(sum("crypto") + sum("encoding")),
  };
}

/** The TRE-side transitions of each child, in order; each stage is measured from the one before. */
const CHILD_STAGES = ["received", "accepted", "running", "outputs_pending_review", "released"] as const;

/**
 * Where the time goes, from each task's history as the hub recorded it (every TRE transition carries the TRE's
 * own timestamp, in ms, and here every party shares this machine's clock): per TRE, submit → received, then each
 * transition; per task, the last TRE's `released` → its Release stored at the hub.
 */
async function stages(b: BenchFederation, runs: readonly CountTaskRun[]): Promise<Record<string, Latency>> {
  const samples = new Map<string, number[]>();
  const add = (name: string, ms: number) => samples.set(name, [...(samples.get(name) ?? []), ms]);
  for (const run of runs) {
    const view: TaskView = await fetchTask(b.researcher, b.researcherKey, run.taskId);
    let lastReleased = 0;
    for (const child of view.children) {
      let previous = run.submittedAt;
      for (const state of CHILD_STAGES) {
        const at = child.history.find((h) => h.state === state)?.at;
        if (at === undefined) throw new Error(`task ${run.taskId}: ${child.tre} has no ${state} event`);
        add(`→ ${state}`, at - previous);
        previous = at;
      }
      lastReleased = Math.max(lastReleased, previous);
    }
    add("last TRE released → Release stored at hub", run.submittedAt + run.storedMs - lastReleased);
  }
  return Object.fromEntries([...samples].map(([name, ms]) => [name, latency(ms)]));
}

/** The query executor on its own, in this process, over the same DuckDB file: open, check, query, close. */
async function executorAlone(b: BenchFederation, runs: number): Promise<Latency> {
  const executor = new QueryExecutor();
  const run = () =>
    executor.run({
      taskId: newId(),
      analysis: COUNT_BY_SEX,
      datasets: [patientsDataset(patientsFile(b.fed.files.dir))],
      credential: { kind: "read-only-file" },
      timeoutMs: 60_000,
    });
  for (let i = 0; i < 5; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  return latency(samples);
}

type CliRun = (argv: string[]) => Promise<{ code: number; out: string[]; err: string[] }>;

/** `tremesh` as a researcher starts it, a process of its own, with the bench researcher's profile. */
async function cliProcess(b: BenchFederation, argv: string[]): ReturnType<CliRun> {
  const bin = join(import.meta.dirname, "..", "..", "bin", "tremesh.mjs");
  const profile = b.fed.files.profiles[BENCH_RESEARCHER]!;
  try {
    const r = await execFileAsync(process.execPath, [bin, ...argv, "--profile", profile], {
      timeout: 120_000,
    });
    return { code: 0, out: r.stdout.trimEnd().split("\n"), err: r.stderr.trimEnd().split("\n") };
  } catch (e) {
    const failed = e as { code?: unknown; stderr?: string };
    return {
      code: typeof failed.code === "number" ? failed.code : 1,
      out: [],
      err: [failed.stderr ?? String(e)],
    };
  }
}

/** `tremesh submit` of the benchmarked count to every TRE, with `flags`, as `cli` runs it. */
async function submitCount(b: BenchFederation, cli: CliRun, flags: string[]): ReturnType<CliRun> {
  const file = join(b.fed.files.dir, "count.json");
  await writeFile(file, JSON.stringify(COUNT_BY_SEX));
  const tres = b.tres.join(",");
  return cli(["submit", "--project", BENCH_PROJECT, "--tres", tres, file, ...flags, "--timeout-ms", "60000"]);
}

/** `tremesh submit --wait` then `tremesh aggregate --json`, each run by `cli`. */
async function cliPath(b: BenchFederation, tasks: number, cli: CliRun): Promise<Latency> {
  const samples: number[] = [];
  for (let i = 0; i < tasks; i++) {
    const start = performance.now();
    const submitted = await submitCount(b, cli, ["--wait"]);
    const taskId = submitted.out[0];
    if (submitted.code !== 0 || !taskId) throw new Error(`tremesh submit: ${submitted.err.join(" ")}`);
    const aggregated = await cli(["aggregate", taskId, "--json"]);
    if (aggregated.code !== 0) throw new Error(`tremesh aggregate: ${aggregated.err.join(" ")}`);
    samples.push(performance.now() - start);
  }
  return latency(samples);
}

/** `tremesh submit --aggregate --json`: the same answer in one command, run by `cli`. */
async function cliOneCommand(b: BenchFederation, tasks: number, cli: CliRun): Promise<Latency> {
  const samples: number[] = [];
  for (let i = 0; i < tasks; i++) {
    const start = performance.now();
    const answered = await submitCount(b, cli, ["--aggregate", "--json"]);
    const doc = JSON.parse(answered.out.join("\n") || "{}") as { state?: string };
    if (answered.code !== 0 || doc.state !== "completed")
      throw new Error(`tremesh submit --aggregate: ${answered.err.join(" ")}`);
    samples.push(performance.now() - start);
  }
  return latency(samples);
}

export function printE2eBench(r: E2eResult): void {
  console.log(
    `end to end — a count on ${r.tres} TREs, auto-release; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date} (setup ${r.setupMs} ms)`,
  );
  printCountTaskLatencies(r);
  for (const [name, l] of Object.entries(r.stages)) console.log(formatLatency(`  per TRE ${name}`, l));
  console.log(formatLatency("query executor alone (same DuckDB file)", r.executorAlone));
  console.log(formatLatency("CLI: submit --wait + aggregate --json, in-process", r.cliPath));
  console.log(formatLatency("CLI: the same, each command its own process", r.cliProcesses));
  console.log(formatLatency("CLI: submit --aggregate --json, one process", r.cliOneProcess));
  console.log(
    `ratios to the leaf round trip: p50 ×${r.ratios.p50ToLeafRoundTrip}, p99 ×${r.ratios.p99ToLeafRoundTrip}; p50 to a JetStream publish ×${r.ratios.p50ToJetStreamPublish}`,
  );
  const cpu = r.cpuPerTask;
  console.log(
    `CPU per task: this process ${cpu.nodeMs} ms (main thread ${cpu.mainThreadMs} ms), nats-servers ${cpu.serverMs} ms`,
  );
  const p = r.crypto.profiled;
  console.log(
    `profiled window, per task: this process ${p.cpuPerTask.nodeMs} ms (main thread ${p.cpuPerTask.mainThreadMs} ms, ${p.gcShareOfMainThread} % of it GC), nats-servers ${p.cpuPerTask.serverMs} ms`,
  );
  for (const [name, s] of Object.entries(p.categories))
    console.log(
      `  ${name.padEnd(44)} ${s.msPerTask.toFixed(2).padStart(6)} ms/task  ${s.percentOfNodeCpu.toFixed(1).padStart(5)} % of this process`,
    );
  const line = (name: string, s: { msPerTask: number; percentOfNodeCpu: number; percentOfAllCpu: number }) =>
    console.log(
      `${name.padEnd(46)} ${s.msPerTask.toFixed(2).padStart(6)} ms/task  ${s.percentOfNodeCpu.toFixed(1).padStart(5)} % of this process  ${s.percentOfAllCpu.toFixed(1).padStart(5)} % of all`,
    );
  line("crypto (profiled)", p.crypto);
  line("crypto + encoding (profiled)", p.cryptoAndEncoding);
  const e = r.crypto.estimate;
  line(`envelopes × cost (${e.envelopesPerTask.sealed} seals, ${e.envelopesPerTask.opened} opens)`, e);
}
