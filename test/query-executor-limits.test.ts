/**
 * Timeouts and cancellation on real engines. The slow dataset is a view over a three-way cross join
 * of 4 000 rows (6.4·10^10 rows): no analysis over it finishes, so the outcome never depends on how
 * fast this machine is. PostgreSQL is also tested with a query blocked on a lock, which only a
 * CancelRequest (not a closed socket) can stop. After each, the connection must be gone.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { ExecutorCancelled, ExecutorFailed, ExecutorTimeout } from "../executors/index.js";
import { classifyEngineError } from "../executors/query/engine-errors.js";
import { PostgresEngine } from "../executors/query/postgres-engine.js";
import { generatePatients, patientProfiles } from "../fixtures/index.js";
import { type AnalysisSpec, newId } from "../protocol/index.js";
import { type PatientEngines, startPatientEngines } from "./harness/patient-engines.js";

const execFileAsync = promisify(execFile);
const rows = generatePatients(patientProfiles.north, 5);
let engines: PatientEngines;
beforeAll(async () => {
  engines = await startPatientEngines({ rows });
});
afterAll(async () => {
  await engines?.stop();
});

const slowRegression: AnalysisSpec = {
  kind: "regression",
  dataset: "slow_patients",
  outcome: "systolic_bp",
  predictors: ["age", "bmi", "cholesterol"],
};

/** Opens the DuckDB file read-write in another process: only possible once no instance holds it. */
async function openReadWriteElsewhere(path: string): Promise<string> {
  const script = `import { DuckDBInstance } from "@duckdb/node-api";
const i = await DuckDBInstance.create(${JSON.stringify(path)}); i.closeSync(); console.log("opened");`;
  const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", script], {
    cwd: process.cwd(),
  });
  return stdout.trim();
}

/** The PostgreSQL sessions of one task, by the application_name the executor sets. */
async function sessionsOf(taskId: string): Promise<number> {
  const admin = await engines.pg.connectAdmin();
  try {
    const { rows: r } = await admin.query(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
      [`tremesh task ${taskId}`],
    );
    return r[0].n as number;
  } finally {
    await admin.end();
  }
}

describe("DuckDB", () => {
  it("stops a query that outlives its budget with ExecutorTimeout, and closes the database", async () => {
    const error = await engines.run("duckdb", slowRegression, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorTimeout);
    expect((error as ExecutorTimeout).timeoutMs).toBe(300);
    expect((error as Error).cause).toBeInstanceOf(Error); // DuckDB's own "Interrupted"
    expect(await openReadWriteElsewhere(join(engines.dir, "patients.duckdb"))).toBe("opened");
  });

  it("stops a query when the signal aborts with ExecutorCancelled, and closes the database", async () => {
    const abort = new AbortController();
    const run = engines.run("duckdb", slowRegression, { signal: abort.signal });
    setTimeout(() => abort.abort(), 200);
    await expect(run).rejects.toBeInstanceOf(ExecutorCancelled);
    expect(await openReadWriteElsewhere(join(engines.dir, "patients.duckdb"))).toBe("opened");
  });
});

describe("PostgreSQL", () => {
  it("stops a query that outlives its budget with ExecutorTimeout, and ends its session", async () => {
    const taskId = newId();
    const error = await engines
      .run("postgres", slowRegression, { taskId, timeoutMs: 500 })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorTimeout);
    await waitFor("the task's session to end", async () => (await sessionsOf(taskId)) === 0);
  });

  it("cancels a running query when the signal aborts, and ends its session", async () => {
    const taskId = newId();
    const abort = new AbortController();
    const run = engines.run(
      "postgres",
      { kind: "summary", dataset: "slow_patients", column: "bmi" },
      {
        taskId,
        signal: abort.signal,
      },
    );
    // Abort only once the server is executing the statement, so the cancel reaches a running query.
    await waitFor("the query to run", async () => {
      const admin = await engines.pg.connectAdmin();
      try {
        const { rows: r } = await admin.query(
          "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'SELECT count(%'",
          [`tremesh task ${taskId}`],
        );
        return r.length === 1;
      } finally {
        await admin.end();
      }
    });
    abort.abort();
    const error = await run.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorCancelled);
    // The server stopped it for our CancelRequest, not for its statement_timeout (30 s away).
    expect((error as Error).cause).toMatchObject({
      code: "57014",
      message: expect.stringMatching(/user request/),
    });
    await waitFor("the task's session to end", async () => (await sessionsOf(taskId)) === 0);
  });

  it("cancels a query blocked on a lock when the budget runs out", async () => {
    const taskId = newId();
    const datasets = engines.datasets("postgres");
    // Issue first: the broker's GRANT would itself wait for the lock.
    await using issued = await engines.broker.issue(taskId, datasets, 500);
    const admin = await engines.pg.connectAdmin();
    await admin.query("BEGIN");
    await admin.query("LOCK TABLE patients IN ACCESS EXCLUSIVE MODE");
    try {
      const error = await engines.executor
        .run({
          taskId,
          analysis: { kind: "count", dataset: "patients" },
          datasets,
          credential: issued.credential,
          timeoutMs: 500,
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExecutorTimeout);
      await waitFor("the task's session to end", async () => (await sessionsOf(taskId)) === 0);
    } finally {
      await admin.query("ROLLBACK");
      await admin.end();
    }
  });

  it("calls a session the server ended between statements a lost connection, worth another run", async () => {
    const taskId = newId();
    const dataset = engines.datasets("postgres").find((d) => d.name === "patients")!;
    if (dataset.engine !== "postgres") throw new Error("expected the PostgreSQL dataset");
    await using issued = await engines.broker.issue(taskId, [dataset], 30_000);
    if (issued.credential.kind !== "postgres") throw new Error("expected a PostgreSQL credential");
    const engine = new PostgresEngine(dataset, issued.credential, { taskId, timeoutMs: 30_000 });
    try {
      await engine.open();
      // The TRE's database administrator ends the idle session, as between two of a run's statements.
      const admin = await engines.pg.connectAdmin();
      try {
        await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
          [`tremesh task ${taskId}`],
        );
      } finally {
        await admin.end();
      }
      await waitFor("the task's session to end", async () => (await sessionsOf(taskId)) === 0);
      const error = await engine.columnTypes().catch((e: unknown) => classifyEngineError(e, dataset, 30_000));
      expect(error).toBeInstanceOf(ExecutorFailed);
      expect((error as ExecutorFailed).message).toMatch(
        /PostgreSQL could not run the analysis \((57P01|08006)\)/,
      );
      expect((error as ExecutorFailed).retryable).toBe(true);
    } finally {
      await engine.close();
    }
  });
});
