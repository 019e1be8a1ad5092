/**
 * Every executor through the one conformance suite (test/harness/executor-conformance.ts): the query
 * executor on DuckDB and on PostgreSQL, and the container executor running an image built here whose
 * scripts compute the same analyses from the dataset extract, reading from either engine. One file, so
 * the synthetic patients, the PostgreSQL cluster and the Podman service are started once for all four.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { ContainerExecutor, treContainers } from "../executors/container/container-executor.js";
import { containerName } from "../executors/container/sandbox.js";
import type { QuerySpec } from "../executors/query/compile.js";
import { QueryExecutor } from "../executors/query/query-executor.js";
import { generatePatients, patientProfiles } from "../fixtures/index.js";
import type { AnalysisSpec } from "../protocol/index.js";
import { CONFORMANCE_COUNT_SCRIPT, CONFORMANCE_SUMMARY_SCRIPT } from "./harness/conformance-image.js";
import {
  type ConformanceEngine,
  describeExecutorConformance,
  engineLeftovers,
  postgresQueryRunning,
} from "./harness/executor-conformance.js";
import { type PatientEngines, startPatientEngines } from "./harness/patient-engines.js";
import { type BuiltImage, buildBusyboxImage, type DockerApi, startDockerApi } from "./harness/podman.js";

const TRE = "conform";
let dir: string;
let engines: PatientEngines;
/** Podman and the image, started by the first container subject: the query executor's runs need neither. */
let containerWorld: Promise<{ api: DockerApi; image: BuiltImage }> | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tremesh-conformance-"));
  // The whole north profile: its three-way cross join (slow_patients) never finishes on any engine.
  engines = await startPatientEngines({ rows: generatePatients(patientProfiles.north, 20_261_204) });
}, 120_000);

afterAll(async () => {
  await (await containerWorld?.catch(() => undefined))?.api.stop();
  await engines?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function startContainerWorld(): Promise<{ api: DockerApi; image: BuiltImage }> {
  const api = await startDockerApi(join(dir, "podman"));
  try {
    const image = await buildBusyboxImage(api, dir, "tremesh/conformance", {
      "/app/summary.sh": CONFORMANCE_SUMMARY_SCRIPT,
      "/app/count.sh": CONFORMANCE_COUNT_SCRIPT,
    });
    return { api, image };
  } catch (error) {
    await api.stop();
    throw error;
  }
}

const slowSummary: QuerySpec = { kind: "summary", dataset: "slow_patients", column: "bmi" };
/** The patient id is an identifier column: no analysis may ever group by it. */
const byIdentifier: QuerySpec = { kind: "count", dataset: "patients", groupBy: ["patient_id"] };

for (const engine of ["duckdb", "postgres"] as const) {
  describeExecutorConformance(`query executor on ${engine === "duckdb" ? "DuckDB" : "PostgreSQL"}`, () => ({
    executor: new QueryExecutor(),
    engines,
    engine,
    analysis: (spec) => spec,
    endless: slowSummary,
    readsForever: slowSummary,
    unrunnable: byIdentifier,
    // DuckDB shows nothing outside the process while a query runs: the suite then aborts on a timer.
    ...(engine === "postgres" ? { running: (taskId: string) => postgresQueryRunning(engines, taskId) } : {}),
    leftovers: (taskId) => engineLeftovers(engines, engine, taskId),
  }));
}

for (const engine of ["duckdb", "postgres"] as const) {
  describeExecutorConformance(
    `container executor reading ${engine === "duckdb" ? "DuckDB" : "PostgreSQL"}`,
    async () => {
      containerWorld ??= startContainerWorld();
      return containerSubject(engine, await containerWorld);
    },
  );
}

function containerSubject(engine: ConformanceEngine, { api, image }: { api: DockerApi; image: BuiltImage }) {
  const workDir = join(dir, `work-${engine}`);
  const container = (
    command: string[],
    env: Record<string, string> = {},
    ref = image.ref,
    dataset = "patients",
  ): AnalysisSpec => ({ kind: "container", image: ref, command, env, datasets: [dataset] });
  return {
    executor: new ContainerExecutor({ docker: api.docker, tre: TRE, workDir }),
    engines,
    engine,
    analysis(spec: QuerySpec): AnalysisSpec {
      if (spec.kind === "summary")
        return container(["/app/summary.sh"], { DATASET: spec.dataset, COLUMN: spec.column });
      if (spec.kind === "count") {
        const [group] = spec.groupBy ?? [];
        return container(["/app/count.sh"], { DATASET: spec.dataset, ...(group ? { GROUP: group } : {}) });
      }
      throw new Error(`the conformance image does not compute a ${spec.kind}`);
    },
    endless: container(["sleep", "600"]),
    // Its extract never finishes: the container is never made.
    readsForever: container(["true"], {}, image.ref, "slow_patients"),
    // Never pulled, so never run: no image with that digest is in this TRE.
    unrunnable: container(["/app/summary.sh"], {}, `tremesh/conformance@sha256:${"1".repeat(64)}`),
    async running(taskId: string) {
      const info = await api.docker.getContainer(containerName(TRE, taskId)).inspect();
      return info.State.Running;
    },
    async leftovers(taskId: string) {
      const left = await engineLeftovers(engines, engine, taskId);
      const containers = await treContainers(api.docker, TRE);
      if (containers.length > 0) left.push(`${containers.length} task container(s)`);
      if (existsSync(join(workDir, "tasks", taskId))) left.push("the task's scratch directory");
      return left;
    },
  };
}
