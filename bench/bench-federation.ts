/**
 * The federation the end-to-end benchmarks run on: the test harness's `startFederation` (real hub and leaf
 * nats-servers, real JetStream), with the hub services and one agent per TRE running in this Node process, as the
 * harness runs them; or, with `leaves: "processes"`, each TRE's leaf as its own `tremesh leaf start` process. By
 * default in operator mode, the demo's set-up (`admin init`, then `add-tre` per TRE); in config mode on request,
 * where the hub starts with every TRE's account at once (operator-mode onboarding takes about a second per TRE,
 * too long for 100). Both give each TRE its own hub account and the same streams and services. Every TRE holds the
 * same synthetic patients (the demo's `north` profile, 4 000 rows) in its own DuckDB file, auto-release is on
 * (leaf.yaml `review.autoRelease`), and one project covers every TRE.
 *
 * The researcher is the demo's: a RESEARCH-account connection, signing with their own key, the TREs' keys
 * pinned. `releases` watches the hub's RELEASES bucket so a benchmark learns the moment a Release is stored.
 */
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { parse, stringify } from "yaml";
import { SOURCE_CHECK_INTERVAL_MS } from "../common/index.js";
import type { DatasetDefinition } from "../executors/index.js";
import {
  generatePatients,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  SYNTHETIC_PATIENT_IDENTIFIERS,
  writePatientsDuckDb,
} from "../fixtures/index.js";
import type { AnalysisSpec, SigningKey } from "../protocol/index.js";
import { approveProject, type Federation, startFederation } from "../test/harness/federation.js";
import { type LeafProcesses, startLeafProcesses } from "../test/harness/leaf-processes.js";
import { type NodeMemory, nodeMemory } from "./process-usage.js";
import { ReleaseWatch } from "./release-watch.js";

export const BENCH_PROJECT = "bench";
/**
 * nats-server's 30 s wait for a consumer request, the stale-source check's restart after it (3 s of silence, looked
 * for every 2 s), and a margin (see `settle`). With 31 s, the first timed round of a 20-TRE fan-out still met the
 * restart now and then: its Releases took a second to cross (p99 1.2 s against 0.1 s p50, 2026-12-07).
 */
const SETTLE_AFTER_LINK_MS = 40_000;
export const BENCH_RESEARCHER = "alice";

/** The benchmarked analysis: patients by sex, a count whose cells all pass the default disclosure checks. */
export const COUNT_BY_SEX: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };

export interface BenchFederationOptions {
  /** How many TREs; named `t001`, `t002`, … */
  tres: number;
  /** Leaves started at once (each is a nats-server and an agent). Default 4. */
  startConcurrency?: number;
  /** How the federation is set up (see above). Default "operator". */
  mode?: "operator" | "config";
  /**
   * Where each TRE's leaf (its agent, and its nats-server) runs: "in-process" (default) in this Node process, as
   * the test harness runs them; "processes": each its own `tremesh leaf start` process, as TREs deploy it (each on
   * its own machine; here, on the same two cores).
   */
  leaves?: "in-process" | "processes";
}

export interface BenchFederation extends AsyncDisposable {
  readonly fed: Federation;
  readonly tres: readonly string[];
  /** The researcher's hub connection (RESEARCH account). */
  readonly researcher: NatsConnection;
  readonly researcherKey: SigningKey;
  /** The TREs' signing keys, as a researcher pins them in their profile (`treKeys`). */
  readonly treKeys: Readonly<Record<string, string>>;
  readonly releases: ReleaseWatch;
  /** Wall time from nothing to every leaf linked and the project approved, in ms. */
  readonly setupMs: number;
  /**
   * Waits until 40 s after the last leaf linked. Until then a TRE's results source may be cancelled once by the
   * consumer request nats-server made before the leaf linked, and restarted by the stale-source check
   * (common/source-restarts.ts): a set-up transient of a few seconds, reported apart from the steady state.
   */
  settle(): Promise<void>;
  /** This process's memory with the hub services running and no leaf or agent yet (`nodeMemory()`). */
  readonly memoryBeforeLeaves: NodeMemory;
  /** The hub's nats-server process id. */
  hubPid(): number;
  /** Each running leaf's nats-server process id, by TRE. */
  leafPids(): Map<string, number>;
  /** Each TRE's `tremesh leaf start` process id (its agent) when the leaves run as processes; none in-process. */
  agentPids(): number[];
}

/** Short names, so that one task can name as many TREs as the hub's audit record allows (see fanout.ts). */
function treNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `t${String(i + 1).padStart(3, "0")}`);
}

/** Starts the federation; everything is stopped and removed on disposal. */
export async function startBenchFederation(options: BenchFederationOptions): Promise<BenchFederation> {
  const started = performance.now();
  const tres = treNames(options.tres);
  const fed = await startFederation({
    tres,
    researchers: [BENCH_RESEARCHER],
    mode: options.mode ?? "operator",
    startLeaves: [],
    // The product's default, not the tests' 1 s: a federation of 100 TREs checks 100 sources at the hub each round.
    sourceCheckIntervalMs: SOURCE_CHECK_INTERVAL_MS,
    leafExtra: (tre) => ({
      datasets: [patientsDataset(`./patients-${tre}.duckdb`)],
      projects: [
        { name: BENCH_PROJECT, researchers: [BENCH_RESEARCHER], analyses: ["count"], datasets: ["patients"] },
      ],
      review: { autoRelease: true },
    }),
  });
  let leafProcesses: LeafProcesses | undefined;
  try {
    await writeDatasets(fed.files.dir, tres);
    for (const tre of tres) await freeClientPort(fed.files.leafConfigs[tre]!);
    const memoryBeforeLeaves = nodeMemory();
    const concurrency = options.startConcurrency ?? 4;
    if (options.leaves === "processes") leafProcesses = await startLeafProcesses(fed, tres, concurrency);
    else await startLeaves(fed, tres, concurrency);
    const linkedAt = performance.now();
    await approveProject(fed, { project: BENCH_PROJECT, tres, members: [BENCH_RESEARCHER] });
    const researcher = await fed.connect(BENCH_RESEARCHER);
    const researcherKey = (await fed.profile(BENCH_RESEARCHER)).key;
    if (!researcherKey) throw new Error(`the ${BENCH_RESEARCHER} profile has no signing key`);
    const releases = await ReleaseWatch.start(await fed.connect("admin"));
    const setupMs = performance.now() - started;
    return {
      fed,
      tres,
      researcher,
      researcherKey,
      treKeys: fed.files.trePublicKeys,
      releases,
      setupMs,
      settle: () => sleep(Math.max(0, SETTLE_AFTER_LINK_MS - (performance.now() - linkedAt))),
      memoryBeforeLeaves,
      hubPid: () => fed.hub.server.pid,
      leafPids: () =>
        leafProcesses?.serverPids() ?? new Map([...fed.leaves].map(([tre, leaf]) => [tre, leaf.server.pid])),
      agentPids: () => [...(leafProcesses?.agentPids().values() ?? [])],
      [Symbol.asyncDispose]: async () => {
        await releases.stop();
        await leafProcesses?.[Symbol.asyncDispose]();
        await fed[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await leafProcesses?.[Symbol.asyncDispose]();
    await fed[Symbol.asyncDispose]();
    throw error;
  }
}

/** The TREs' dataset over the DuckDB file at `path` (relative paths in leaf.yaml are the leaf.yaml folder's). */
export function patientsDataset(path: string): DatasetDefinition {
  return {
    name: "patients",
    engine: "duckdb",
    path,
    table: "patients",
    columns: { ...SYNTHETIC_PATIENT_COLUMNS },
    identifiers: [...SYNTHETIC_PATIENT_IDENTIFIERS],
  };
}

/** The DuckDB file the TREs' copies are made from (no leaf opens it). */
export function patientsFile(federationDir: string): string {
  return join(federationDir, "patients.duckdb");
}

/** One DuckDB file of synthetic patients, copied once per TRE: each TRE holds its own data. */
async function writeDatasets(dir: string, tres: readonly string[]): Promise<void> {
  const source = patientsFile(dir);
  await writePatientsDuckDb(generatePatients(patientProfiles.north, 1), source);
  for (const tre of tres) await copyFile(source, join(dir, `patients-${tre}.duckdb`));
}

/**
 * Lets the leaf's server pick its client port when it starts. The harness fixes each port when it writes the
 * files (so reviewers' profiles can name it), but by the time the last of 100 leaves starts, the others' monitor
 * ports and connections may hold it; no benchmark uses a reviewer's profile.
 */
async function freeClientPort(leafConfig: string): Promise<void> {
  const config = parse(await readFile(leafConfig, "utf8")) as Record<string, unknown>;
  await writeFile(leafConfig, stringify({ ...config, ports: { client: -1 } }), { mode: 0o600 });
}

/** Starts every leaf, `concurrency` at a time; each start waits for its link on the hub. */
async function startLeaves(fed: Federation, tres: readonly string[], concurrency: number): Promise<void> {
  const queue = [...tres];
  const worker = async () => {
    for (let tre = queue.shift(); tre !== undefined; tre = queue.shift()) await fed.startLeaf(tre);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, tres.length) }, worker));
}
