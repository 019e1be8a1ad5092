/**
 * The same synthetic patients in every engine the query executor reads: a DuckDB database file, a
 * CSV file, a Parquet file and a table in a real, throw-away PostgreSQL cluster, each registered as
 * dataset "patients" (plus "slow_patients", a view over a cross join that never finishes, for the
 * timeout tests). `run` goes the way the agent will: broker credential → executor → release.
 *
 * @example
 * const engines = await startPatientEngines({ rows });   // beforeAll
 * const [out] = await engines.run("csv", { kind: "count", dataset: "patients" });
 * await engines.stop();                                   // afterAll
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import {
  type DatasetDefinition,
  type ExecutorOutput,
  QueryExecutor,
  type RunOptions,
} from "../../executors/index.js";
import {
  type PatientRow,
  SYNTHETIC_PATIENT_COLUMNS,
  SYNTHETIC_PATIENT_IDENTIFIERS,
  writePatientsCsv,
  writePatientsDuckDb,
  writePatientsParquet,
  writePatientsPostgres,
} from "../../fixtures/index.js";
import { CredentialBroker } from "../../leaf/credential-broker.js";
import { type AnalysisSpec, newId } from "../../protocol/index.js";
import { type PostgresHandle, startPostgres } from "./postgres.js";
import { uniqueToken } from "./unique.js";

export const ENGINES = ["duckdb", "csv", "parquet", "postgres"] as const;
export type Engine = (typeof ENGINES)[number];

/** A view whose every scan is a three-way cross join of the table: no analysis over it finishes. */
const SLOW_VIEW =
  "CREATE VIEW slow_patients AS SELECT a.* FROM patients a CROSS JOIN patients b CROSS JOIN patients c";

export interface PatientEngines {
  readonly rows: readonly PatientRow[];
  readonly dir: string;
  readonly pg: PostgresHandle;
  readonly broker: CredentialBroker;
  readonly executor: QueryExecutor;
  /** Every dataset of `engine` (patients, slow_patients where the engine has it). */
  datasets(engine: Engine): DatasetDefinition[];
  /** Issues a credential, runs the analysis, releases the credential (even on failure). */
  run(
    engine: Engine,
    analysis: AnalysisSpec,
    options?: RunOptions & { timeoutMs?: number; taskId?: string },
  ): Promise<ExecutorOutput[]>;
  stop(): Promise<void>;
}

export async function startPatientEngines({
  rows,
}: {
  rows: readonly PatientRow[];
}): Promise<PatientEngines> {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-patients-"));
  let pg: PostgresHandle | undefined;
  try {
    const files = {
      duckdb: join(dir, "patients.duckdb"),
      csv: join(dir, "patients.csv"),
      parquet: join(dir, "patients.parquet"),
    };
    await writePatientsDuckDb(rows, files.duckdb);
    await addSlowView(files.duckdb);
    await writePatientsCsv(rows, files.csv);
    await writePatientsParquet(rows, files.parquet);
    pg = await startPostgres();
    const admin = await pg.connectAdmin();
    await writePatientsPostgres(admin, rows);
    await admin.query(SLOW_VIEW);
    await admin.end();
    const server = pg;
    const broker = new CredentialBroker({
      postgres: { admin: server.adminConfig(), rolePrefix: `tq_${uniqueToken()}_` },
    });
    const executor = new QueryExecutor();
    const allow = {
      columns: { ...SYNTHETIC_PATIENT_COLUMNS },
      identifiers: [...SYNTHETIC_PATIENT_IDENTIFIERS],
    };
    const datasets = (engine: Engine): DatasetDefinition[] => {
      switch (engine) {
        case "duckdb":
          return ["patients", "slow_patients"].map((table) => ({
            name: table,
            engine,
            path: files.duckdb,
            table,
            ...allow,
          }));
        case "csv":
        case "parquet":
          return [{ name: "patients", engine, path: files[engine], ...allow }];
        case "postgres":
          return ["patients", "slow_patients"].map((table) => ({
            name: table,
            engine,
            schema: "public",
            table,
            ...allow,
          }));
      }
    };
    return {
      rows,
      dir,
      pg: server,
      broker,
      executor,
      datasets,
      async run(engine, analysis, options = {}) {
        const taskId = options.taskId ?? newId();
        const timeoutMs = options.timeoutMs ?? 30_000;
        const all = datasets(engine);
        const named = "dataset" in analysis ? all.filter((d) => d.name === analysis.dataset) : [];
        await using issued = await broker.issue(taskId, named.length > 0 ? named : all, timeoutMs);
        const runOptions = options.signal === undefined ? {} : { signal: options.signal };
        // `return await`: the credential must outlive the run, and `using` releases it when this scope exits.
        return await executor.run(
          { taskId, analysis, datasets: all, credential: issued.credential, timeoutMs },
          runOptions,
        );
      },
      async stop() {
        await server.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await pg?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function addSlowView(path: string): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  try {
    const connection = await instance.connect();
    await connection.run(SLOW_VIEW);
    connection.closeSync();
  } finally {
    instance.closeSync();
  }
}
