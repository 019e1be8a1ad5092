/**
 * The demo's federation: files written as an operator would (`writeFederation`), three TREs with different
 * synthetic patients in different engines (DuckDB, Parquet, CSV), auto-release on, and every party run as
 * its own `tremesh hub start` / `tremesh leaf start` process in its own process group, recorded in pids.json
 * (cli/demo-pids.ts) so the whole federation can be stopped — by this process, or later by `tremesh demo stop
 * DIR` after `--keep` (cli/demo-stop.ts). When the demo has a container engine (cli/demo-container.ts), it is
 * recorded and stopped the same way.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, open, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildOperatorFederation, type FederationFiles } from "../admin/index.js";
import {
  generatePatients,
  type PatientProfile,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  SYNTHETIC_PATIENT_IDENTIFIERS,
  writePatientsCsv,
  writePatientsDuckDb,
  writePatientsParquet,
} from "../fixtures/index.js";
import type { DemoPids } from "./demo-pids.js";

/** The demo's TREs: name, population profile, seed and storage engine. */
export const DEMO_TRES = [
  { tre: "north", profile: "north", seed: 1, engine: "duckdb", file: "patients-north.duckdb" },
  { tre: "south", profile: "south", seed: 2, engine: "parquet", file: "patients-south.parquet" },
  { tre: "valley", profile: "small", seed: 3, engine: "csv", file: "patients-valley.csv" },
] as const;

export const DEMO_PROJECT = "demo";
export const DEMO_RESEARCHER = "alice";
export const DEMO_REVIEWER = "rita";
/** The container engine's folder in the demo's: its socket and image store. */
export const DEMO_ENGINE_DIR = "podman";

export interface DemoDataFile {
  tre: string;
  engine: string;
  file: string;
  rows: number;
  sha256: string;
  /** How to make the same rows again: `generatePatients(patientProfiles[profile], seed)`. */
  generator: { profile: string; seed: number };
}

/** The TREs' container engine and the image their project allows, when the demo runs containers. */
export interface DemoContainers {
  /** The engine's socket, each TRE's leaf.yaml `containers.socket`. */
  socketPath: string;
  /** The demo image, pinned by digest: `tremesh/demo-stats@sha256:…`. */
  image: string;
}

export interface DemoFederation {
  dir: string;
  files: FederationFiles;
  data: DemoDataFile[];
  /** Absent: the TREs run no containers (the demo could not start Podman here). */
  containers?: DemoContainers;
  /** Every process group started so far, in start order; what `pids.json` records. */
  pids: DemoPids;
}

/** This package's folder, from the compiled (dist/cli) or the source (cli) folder alike. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/**
 * Writes the demo's data files, then builds its federation in operator mode as its admin and TRE operators would
 * (`buildOperatorFederation`): `startHub` starts the hub once `tremesh admin init` has made its config.
 */
export async function writeDemoFederation(
  dir: string,
  /** Awaited once the data files are written: Podman starts meanwhile. */
  containersStarting: Promise<DemoContainers | undefined>,
  startHub: (hubConfigs: readonly string[], adminProfile: string) => Promise<void>,
): Promise<Omit<DemoFederation, "pids">> {
  const data: DemoDataFile[] = [];
  for (const t of DEMO_TRES) {
    const rows = generatePatients(patientProfiles[t.profile] as PatientProfile, t.seed);
    const path = join(dir, t.file);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (t.engine === "duckdb") await writePatientsDuckDb(rows, path);
    else if (t.engine === "parquet") await writePatientsParquet(rows, path);
    else await writePatientsCsv(rows, path);
    // Patient-level data, even synthetic: owner-only, as the configs and secrets beside it are.
    await chmod(path, 0o600);
    const sha256 = createHash("sha256")
      .update(await readFile(path))
      .digest("hex");
    data.push({
      tre: t.tre,
      engine: t.engine,
      file: path,
      rows: rows.length,
      sha256,
      generator: { profile: t.profile, seed: t.seed },
    });
  }
  const containers = await containersStarting;
  const files = await buildOperatorFederation(
    dir,
    {
      tres: DEMO_TRES.map((t) => t.tre),
      researchers: [DEMO_RESEARCHER],
      reviewers: [DEMO_REVIEWER],
      heartbeatIntervalMs: 1_000,
      offlineAfterMs: 5_000,
      leafExtra: (tre) => {
        const t = DEMO_TRES.find((x) => x.tre === tre)!;
        const dataset = {
          name: "patients",
          columns: { ...SYNTHETIC_PATIENT_COLUMNS },
          identifiers: [...SYNTHETIC_PATIENT_IDENTIFIERS],
          ...(t.engine === "duckdb"
            ? { engine: "duckdb", path: `./${t.file}`, table: "patients" }
            : { engine: t.engine, path: `./${t.file}` }),
        };
        const analyses = ["count", "summary", "histogram", "crosstab", "regression"];
        return {
          datasets: [dataset],
          projects: [
            {
              name: DEMO_PROJECT,
              researchers: [DEMO_RESEARCHER],
              analyses: containers ? [...analyses, "container"] : analyses,
              datasets: ["patients"],
              ...(containers ? { images: [containers.image] } : {}),
            },
          ],
          ...(containers ? { containers: { socket: containers.socketPath } } : {}),
          // The demo shows the whole path without a person at each TRE: outputs that pass every check leave at once.
          review: { autoRelease: true },
        };
      },
    },
    startHub,
  );
  return { dir, files, data, ...(containers ? { containers } : {}) };
}

export interface DemoProcesses {
  /** Rejects, naming the process and the end of its log, if one ends before the demo is stopped. */
  died: Promise<never>;
  /** Starts `tremesh ARGS…` as its own process group, logging to `dir/logs/NAME.log`; records it and returns its PID. */
  start(name: string, args: string[]): Promise<number>;
}

/**
 * The demo's party processes: each started as its own process group (logs in `dir/logs`) with the run's mark
 * in its environment, and recorded in `fed.pids` and `pids.json` as it starts, so a failure half-way still
 * leaves everything started stoppable.
 */
export function demoProcesses(fed: Pick<DemoFederation, "dir" | "pids">): DemoProcesses {
  const logs = join(fed.dir, "logs");
  const bin = join(packageRoot(), "bin", "tremesh.mjs");
  let reportDeath: (e: Error) => void = () => {};
  const died = new Promise<never>((_, reject) => {
    reportDeath = reject;
  });
  died.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  const start = async (name: string, args: string[]) => {
    await mkdir(logs, { recursive: true, mode: 0o700 });
    const logFile = join(logs, `${name}.log`);
    const log = await open(logFile, "a", 0o600);
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: fed.dir,
      env: fed.pids.env(),
      detached: true, // its own process group: stopping it stops its nats-server too
      stdio: ["ignore", log.fd, log.fd],
    });
    // Recorded before anything is awaited: its start time is read while it surely still exists.
    const recorded = child.pid === undefined ? undefined : fed.pids.add(name, child.pid);
    await log.close();
    child.unref();
    child.once("exit", (code, signal) => {
      if (fed.pids.stopping) return;
      void readFile(logFile, "utf8")
        .catch(() => "")
        .then((text) => {
          const tail = text.trim().split("\n").slice(-5).join("\n");
          reportDeath(
            new Error(`${name} ended (${signal ?? `exit ${code}`}); the end of ${logFile}:\n${tail}`),
          );
        });
    });
    if (recorded === undefined || child.pid === undefined) throw new Error(`could not start ${name}`);
    await recorded;
    return child.pid;
  };
  return { died, start };
}

/** Starts every TRE's leaf (the hub runs already: the admin needed it to onboard them). */
export async function startDemoLeaves(fed: DemoFederation, processes: DemoProcesses): Promise<void> {
  for (const t of DEMO_TRES)
    await processes.start(`leaf-${t.tre}`, ["leaf", "start", "--config", fed.files.leafConfigs[t.tre]!]);
}
