/**
 * The container executor's overhead beside the query executor, on the same analysis (mean and variance
 * of one column of the same CSV dataset), through the same Executor contract the agent drives:
 *
 * - query: DuckDB reads the file and computes the summary (the built-in path);
 * - container: extract the allowed columns to CSV → create the sealed container → start → wait →
 *   collect /outputs → remove (awk in a busybox image computes the summary);
 * - floor: the engine alone, create → start → wait → remove of a container running `true`, through the
 *   same API, so the container figure can be read as a ratio to what the engine itself costs.
 *
 * It starts its own `podman system service` (Podman's Docker-compatible API) with the project's
 * containers.conf, and stops it by its PID.
 *
 *   npm run bench -- container
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  ContainerExecutor,
  type ContainerExit,
  type DatasetDefinition,
  QueryExecutor,
} from "../executors/index.js";
import {
  buildBusyboxImage,
  generatePatients,
  MEAN_SCRIPT,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  startDockerApi,
  writePatientsCsv,
} from "../fixtures/index.js";
import { type AnalysisSpec, newId } from "../protocol/index.js";
import { machine } from "./measure.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface Timing {
  runs: number;
  p50Ms: number;
  p95Ms: number;
  meanMs: number;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    runs: samples.length,
    p50Ms: round(at(0.5)),
    p95Ms: round(at(0.95)),
    meanMs: round(samples.reduce((s, x) => s + x, 0) / samples.length),
  };
}

async function timed(n: number, warmUp: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < warmUp; i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return samples;
}

export async function runContainerBench({ rows = 10_000, runs = 20 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "tremesh-bench-container-"));
  const api = await startDockerApi(join(dir, "podman"), join(ROOT, ".tools", "podman", "containers.conf"));
  try {
    const image = await buildBusyboxImage(api, dir, "tremesh/bench", { "/app/mean.sh": MEAN_SCRIPT });
    const file = join(dir, "patients.csv");
    await writePatientsCsv(generatePatients(patientProfiles.north, 5).slice(0, rows), file);
    const dataset: DatasetDefinition = {
      name: "patients",
      engine: "csv",
      path: file,
      columns: { ...SYNTHETIC_PATIENT_COLUMNS },
      identifiers: ["patient_id"],
    };
    const credential = { kind: "read-only-file" } as const;
    const task = (analysis: AnalysisSpec) => ({
      taskId: newId(),
      analysis,
      datasets: [dataset],
      credential,
      timeoutMs: 60_000,
    });

    const query = new QueryExecutor();
    const summary: AnalysisSpec = { kind: "summary", dataset: "patients", column: "bmi" };
    const querySamples = await timed(runs, 3, () => query.run(task(summary)));

    const exits: ContainerExit[] = [];
    const containers = new ContainerExecutor({
      docker: api.docker,
      tre: "bench",
      workDir: join(dir, "work"),
      onExit: (e) => exits.push(e),
    });
    const spec: AnalysisSpec = {
      kind: "container",
      image: image.ref,
      command: ["/app/mean.sh"],
      env: { COLUMN: "bmi" },
      datasets: ["patients"],
    };
    const containerSamples = await timed(runs, 2, () => containers.run(task(spec)));
    const inside = exits.slice(-runs).map((e) => e.durationMs);

    const floorSamples = await timed(runs, 2, async () => {
      const c = await api.docker.createContainer({
        Image: image.id,
        Cmd: ["true"],
        HostConfig: { NetworkMode: "none" },
      });
      await c.start();
      await c.wait();
      await c.remove({ force: true });
    });

    const q = timing(querySamples);
    const c = timing(containerSamples);
    const f = timing(floorSamples);
    return {
      bench: "container",
      machine: machine(),
      engine: `podman ${(await api.docker.version()).Version}`,
      analysis: `mean and variance of bmi over ${rows} CSV rows`,
      query: q,
      container: c,
      containerStartToExit: timing(inside),
      engineFloor: f,
      ratios: {
        containerToQuery: Math.round((c.p50Ms / q.p50Ms) * 10) / 10,
        containerToEngineFloor: Math.round((c.p50Ms / f.p50Ms) * 100) / 100,
      },
    };
  } finally {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printContainerBench(r: Awaited<ReturnType<typeof runContainerBench>>): void {
  const line = (name: string, t: Timing) =>
    `${name.padEnd(48)} p50 ${t.p50Ms.toFixed(1).padStart(8)} ms   p95 ${t.p95Ms.toFixed(1).padStart(8)} ms`;
  console.log(`container executor vs query executor — ${r.analysis}; ${r.engine}`);
  console.log(`  ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date}`);
  console.log(line("query executor (DuckDB)", r.query));
  console.log(line("container executor (create → result → remove)", r.container));
  console.log(line("  of which the container ran (start → exit)", r.containerStartToExit));
  console.log(line("engine floor (create/start/wait/remove true)", r.engineFloor));
  console.log(
    `ratios: container / query ${r.ratios.containerToQuery}×, container / engine floor ${r.ratios.containerToEngineFloor}×`,
  );
}
