/**
 * The one conformance suite every executor passes (STYLE.md habit 12, after BullMQ's backend suite):
 * the same analysis over the same rows gives the same output description; a budget that runs out and
 * a signal that aborts end the run with the same typed outcome and leave nothing behind; a failure
 * is told apart from a refusal, and flagged retryable or not, the same way.
 *
 * An executor takes part through a `ConformanceSubject`: how it spells the suite's analyses (the
 * query executor takes them as they are; the container executor runs an image that computes them),
 * an analysis that never finishes, one it must refuse, and what a run of it could leave behind.
 *
 * @example
 * describeExecutorConformance("query executor on PostgreSQL", () => ({
 *   executor: new QueryExecutor(), engines: engines(), engine: "postgres",
 *   analysis: (spec) => spec, endless: slowSummary, unrunnable: identifierGroupBy,
 *   leftovers: (taskId) => postgresLeftovers(engines(), taskId),
 * }));
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createServer } from "node:net";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../../common/wait-for.js";
import {
  AnalysisRefused,
  ExecutorCancelled,
  ExecutorErrorCode,
  ExecutorFailed,
  ExecutorTimeout,
} from "../../executors/errors.js";
import type { Executor, ExecutorCredential, ExecutorOutput } from "../../executors/executor.js";
import type { QuerySpec } from "../../executors/query/compile.js";
import type { DatasetDefinition, DuckDbDataset } from "../../executors/query/dataset.js";
import { DUCKDB_KEEP_OPEN_MS } from "../../executors/query/duckdb-instances.js";
import { type AnalysisSpec, decodeOutput, newId, OUTPUT_MEDIA_TYPE } from "../../protocol/index.js";
import type { PatientEngines } from "./patient-engines.js";
import { expectSameStatistics, referenceOutput } from "./reference-stats.js";

/** Where a subject's rows live: the suite's data is the same in both. */
export type ConformanceEngine = "duckdb" | "postgres";

export interface ConformanceSubject {
  readonly executor: Executor;
  readonly engines: PatientEngines;
  readonly engine: ConformanceEngine;
  /** The executor's spelling of a count or summary over dataset "patients" (no filters, ≤ 1 group). */
  analysis(spec: QuerySpec): AnalysisSpec;
  /** An analysis that runs until it is stopped. */
  readonly endless: AnalysisSpec;
  /** An analysis whose reading of its dataset never finishes (for the query executor, `endless` again). */
  readonly readsForever: AnalysisSpec;
  /** An analysis this executor can never run as asked (AnalysisRefused). */
  readonly unrunnable: AnalysisSpec;
  /**
   * True once the run is doing its real work (the query executing, the container running), so a
   * cancellation lands mid-run. Absent where nothing outside shows it: the suite then aborts after
   * ABORT_AFTER_MS.
   */
  running?(taskId: string): Promise<boolean>;
  /** What a run of `taskId` left behind (a container, a scratch directory, a session, a held file). */
  leftovers(taskId: string): Promise<string[]>;
}

/** The budget of runs that should finish; generous, as a container start is slow on 2 busy cores. */
const RUN_MS = 30_000;
/** The budget of the timeout case: long enough for a container to be running when it runs out. */
const TIMEOUT_MS = 2_000;
/** Most a stopped run may take past its budget (a container's kill, log copy and removal). */
const STOP_SLACK_MS = 10_000;
/** When the subject cannot tell that a run is under way, the cancellation comes this long after it began. */
const ABORT_AFTER_MS = 300;

const SUMMARY: QuerySpec = { kind: "summary", dataset: "patients", column: "bmi" };
const COUNT_BY_REGION: QuerySpec = { kind: "count", dataset: "patients", groupBy: ["region"] };
const COUNT_ALL: QuerySpec = { kind: "count", dataset: "patients" };
/** Summary of a text column the TRE has (wrongly) declared numeric. */
const SUMMARY_OF_REGION: QuerySpec = { kind: "summary", dataset: "patients", column: "region" };

export function describeExecutorConformance(
  name: string,
  makeExecutor: () => ConformanceSubject | Promise<ConformanceSubject>,
): void {
  describe(`executor conformance: ${name}`, () => {
    let s: ConformanceSubject;
    beforeAll(async () => {
      s = await makeExecutor();
    }, 120_000);

    interface Run {
      analysis: AnalysisSpec;
      timeoutMs?: number;
      signal?: AbortSignal;
      taskId?: string;
      /** The TRE's definitions, when a case changes them. */
      datasets?: DatasetDefinition[];
      /** Replaces the broker's credential (keeping the role it made, released as usual). */
      credential?: (issued: ExecutorCredential) => ExecutorCredential;
      /** The budget the executor is given, when a case gives it one the broker would not take. */
      executorTimeoutMs?: number;
      /** Something in the way for the length of the run only (a lock on the dataset's file). */
      obstruct?: () => Promise<AsyncDisposable>;
    }

    /** Runs like the agent does (broker credential → executor → release) and checks what is left. */
    async function run(r: Run): Promise<{ outputs?: ExecutorOutput[]; error?: unknown; elapsedMs: number }> {
      const taskId = r.taskId ?? newId();
      const timeoutMs = r.timeoutMs ?? RUN_MS;
      const read = readsOf(r.analysis);
      const datasets = (r.datasets ?? s.engines.datasets(s.engine)).filter((d) => read.includes(d.name));
      const started = Date.now();
      let result: { outputs?: ExecutorOutput[]; error?: unknown };
      {
        await using issued = await s.engines.broker.issue(taskId, datasets, timeoutMs);
        const credential = r.credential ? r.credential(issued.credential) : issued.credential;
        const obstacle = await r.obstruct?.();
        try {
          result = await s.executor
            .run(
              {
                taskId,
                analysis: r.analysis,
                datasets,
                credential,
                timeoutMs: r.executorTimeoutMs ?? timeoutMs,
              },
              r.signal ? { signal: r.signal } : {},
            )
            .then(
              (outputs) => ({ outputs }),
              (error: unknown) => ({ error }),
            );
        } finally {
          await obstacle?.[Symbol.asyncDispose]();
        }
        // Checked before the broker ends the role's sessions, which would hide a connection left open.
        await expectNothingLeft(taskId);
      }
      if (s.engine === "postgres")
        expect(await postgresRoleExists(s.engines, taskId), "the task's role").toBe(false);
      return { ...result, elapsedMs: Date.now() - started };
    }

    /**
     * Nothing of the run is left; a session may take a moment to leave pg_stat_activity after its socket closed,
     * and the query executor keeps a DuckDB file's instance open for `DUCKDB_KEEP_OPEN_MS` after a run for the next.
     */
    async function expectNothingLeft(taskId: string): Promise<void> {
      let left: string[] = [];
      await waitFor(
        "the run to leave nothing behind",
        async () => {
          left = await s.leftovers(taskId);
          return left.length === 0;
        },
        { timeoutMs: DUCKDB_KEEP_OPEN_MS + 8_000 },
      ).catch(() => undefined);
      expect(left, "left behind by the run").toEqual([]);
    }

    function expectOneDescription(outputs: ExecutorOutput[] | undefined, error: unknown, spec: QuerySpec) {
      expect(error).toBeUndefined();
      expect(outputs?.map((o) => [o.name, o.mediaType])).toEqual([[`${spec.kind}.json`, OUTPUT_MEDIA_TYPE]]);
      const [output] = outputs ?? [];
      const description = output?.description;
      expect(decodeOutput(output?.bytes ?? new Uint8Array())).toEqual(description);
      expect(description?.analysis).toEqual(s.analysis(spec));
      const { analysis: _, ...statistics } = description ?? {};
      const { analysis: __, ...expected } = referenceOutput(spec, [...s.engines.rows]);
      expectSameStatistics(statistics, expected);
    }

    it("summarises a column with nulls: the same output description as computed from the rows", async () => {
      const { outputs, error } = await run({ analysis: s.analysis(SUMMARY) });
      expectOneDescription(outputs, error, SUMMARY);
    });

    it("counts the rows, and counts them by a group: the same output descriptions as computed from the rows", async () => {
      for (const spec of [COUNT_ALL, COUNT_BY_REGION]) {
        const { outputs, error } = await run({ analysis: s.analysis(spec) });
        expectOneDescription(outputs, error, spec);
      }
    });

    it("stops a run that outlives its budget with ExecutorTimeout naming the budget, leaving nothing behind", async () => {
      const { error, elapsedMs } = await run({ analysis: s.endless, timeoutMs: TIMEOUT_MS });
      expect(error).toBeInstanceOf(ExecutorTimeout);
      expect(error).toMatchObject({
        code: ExecutorErrorCode.timeout,
        timeoutMs: TIMEOUT_MS,
        retryable: false,
      });
      expect((error as Error).message).toContain(`${TIMEOUT_MS} ms`);
      expect(elapsedMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
      expect(elapsedMs).toBeLessThan(TIMEOUT_MS + STOP_SLACK_MS);
    });

    it("stops a run still reading its dataset at the budget with ExecutorTimeout, leaving nothing behind", async () => {
      const { error, elapsedMs } = await run({ analysis: s.readsForever, timeoutMs: TIMEOUT_MS });
      expect(error).toBeInstanceOf(ExecutorTimeout);
      expect(error).toMatchObject({ timeoutMs: TIMEOUT_MS });
      expect(elapsedMs).toBeLessThan(TIMEOUT_MS + STOP_SLACK_MS);
    });

    it("stops a run mid-way when its signal aborts with ExecutorCancelled, leaving nothing behind", async () => {
      const taskId = newId();
      const abort = new AbortController();
      const running = run({ analysis: s.endless, taskId, signal: abort.signal });
      const began = Date.now();
      await waitFor("the run to be under way", async () =>
        s.running ? await s.running(taskId) : Date.now() - began >= ABORT_AFTER_MS,
      );
      const aborted = Date.now();
      abort.abort();
      const { error } = await running;
      expect(error).toBeInstanceOf(ExecutorCancelled);
      expect(error).toMatchObject({ code: ExecutorErrorCode.cancelled, retryable: false });
      expect(Date.now() - aborted).toBeLessThan(STOP_SLACK_MS);
    });

    it("fails, not retryable, for a budget that is not a whole number of ms from 1 up, running nothing", async () => {
      for (const executorTimeoutMs of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        const { error } = await run({ analysis: s.analysis(SUMMARY), executorTimeoutMs });
        expect(error, String(executorTimeoutMs)).toBeInstanceOf(ExecutorFailed);
        expect(error).toMatchObject({ retryable: false, message: expect.stringMatching(/timeoutMs/) });
      }
    });

    it("runs nothing for a signal that aborted before the run began: ExecutorCancelled", async () => {
      const { error } = await run({ analysis: s.analysis(SUMMARY), signal: AbortSignal.abort() });
      expect(error).toBeInstanceOf(ExecutorCancelled);
    });

    it("refuses an analysis it can never run with AnalysisRefused, which is never retryable", async () => {
      const { error } = await run({ analysis: s.unrunnable });
      expect(error).toBeInstanceOf(AnalysisRefused);
      expect(error).toMatchObject({ code: ExecutorErrorCode.refused, retryable: false });
    });

    it("refuses an analysis of a kind it does not run with AnalysisRefused on `kind`", async () => {
      const foreign: AnalysisSpec = s.executor.kinds.includes("count")
        ? {
            kind: "container",
            image: `x/y@sha256:${"0".repeat(64)}`,
            command: ["true"],
            datasets: ["patients"],
          }
        : COUNT_ALL;
      const { error } = await run({ analysis: foreign });
      expect(error).toBeInstanceOf(AnalysisRefused);
      expect(error).toMatchObject({ field: "kind", retryable: false });
    });

    it("fails, not retryable and quoting no value, when the TRE's declaration does not match the table", async () => {
      // region holds text; a numeric declaration would have the database (or awk) read region names as numbers.
      const datasets = s.engines
        .datasets(s.engine)
        .map((d) => ({ ...d, columns: { ...d.columns, region: "numeric" as const } }));
      const { error } = await run({ analysis: s.analysis(SUMMARY_OF_REGION), datasets });
      expect(error).toBeInstanceOf(ExecutorFailed);
      expect(error).toMatchObject({ code: ExecutorErrorCode.failed, retryable: false });
      expect((error as Error).message).toMatch(/declares column 'region' numeric/);
      expect((error as Error).message).not.toMatch(new RegExp(regionNames(s).join("|")));
    });

    it("fails retryable when the dataset cannot be read for now (a file locked by its loader, a database not answering)", async () => {
      if (s.engine === "duckdb") {
        const [file] = s.engines.datasets("duckdb").filter((d): d is DuckDbDataset => d.engine === "duckdb");
        const { error } = await run({
          analysis: s.analysis(SUMMARY),
          obstruct: () => lockDuckDbFile(file!.path),
        });
        expectRetryable(error);
      } else {
        const port = await closedPort();
        const { error } = await run({
          analysis: s.analysis(SUMMARY),
          credential: (c) => (c.kind === "postgres" ? { ...c, password: c.password, port } : c),
        });
        expectRetryable(error);
      }
    });
  });
}

function expectRetryable(error: unknown): void {
  expect(error).toBeInstanceOf(ExecutorFailed);
  expect(error).toMatchObject({ code: ExecutorErrorCode.failed, retryable: true });
}

/** The dataset names an analysis reads: the task's datasets, as the agent resolves them. */
function readsOf(analysis: AnalysisSpec): readonly string[] {
  return analysis.kind === "container" ? (analysis.datasets ?? []) : [analysis.dataset];
}

function regionNames(s: ConformanceSubject): string[] {
  return [...new Set(s.engines.rows.map((r) => r.region))];
}

/** A port on loopback with nothing listening: connecting is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const DUCKDB_OPEN_READ_WRITE = `import { DuckDBInstance } from "@duckdb/node-api";
const i = await DuckDBInstance.create(process.argv[1]);`;

/**
 * Holds the DuckDB file open read-write in another process, as a TRE's loader rewriting it would:
 * a read-only open elsewhere fails with DuckDB's "IO Error" (a lock conflict) until it is released.
 */
export async function lockDuckDbFile(path: string): Promise<AsyncDisposable> {
  const script = `${DUCKDB_OPEN_READ_WRITE}
console.log("locked");
process.stdin.resume();
process.stdin.on("end", () => { i.closeSync(); process.exit(0); });`;
  const child: ChildProcess = spawn(process.execPath, ["--input-type=module", "-e", script, path], {
    cwd: process.cwd(),
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const release = async () => {
    child.stdin?.end();
    await exited;
  };
  try {
    await waitFor("the DuckDB file to be locked", () => out.includes("locked") || child.exitCode !== null);
    if (child.exitCode !== null) throw new Error(`could not lock ${path} (exit ${child.exitCode})`);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return { [Symbol.asyncDispose]: release };
}

const execFileAsync = promisify(execFile);

/** True when no process holds the DuckDB file: only then can another process open it read-write. */
export async function duckDbFileFree(path: string): Promise<boolean> {
  const script = `${DUCKDB_OPEN_READ_WRITE} i.closeSync(); console.log("opened");`;
  const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", script, path], {
    cwd: process.cwd(),
  }).catch(() => ({ stdout: "" }));
  return stdout.trim() === "opened";
}

/** Rows of one statement run as the cluster's admin, on a connection of its own. */
async function adminQuery(engines: PatientEngines, sql: string, params: unknown[]): Promise<unknown[]> {
  const admin = await engines.pg.connectAdmin();
  try {
    return (await admin.query(sql, params)).rows;
  } finally {
    await admin.end();
  }
}

/** The PostgreSQL sessions of one task, by the application_name the engines set. */
export async function postgresSessions(engines: PatientEngines, taskId: string): Promise<number> {
  const [row] = await adminQuery(
    engines,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1",
    [`tremesh task ${taskId}`],
  );
  return (row as { n: number }).n;
}

/** Whether the broker's role for the task still exists (it must not, once the credential is released). */
export async function postgresRoleExists(engines: PatientEngines, taskId: string): Promise<boolean> {
  const rows = await adminQuery(engines, "SELECT 1 FROM pg_roles WHERE rolname = $1", [
    engines.broker.roleName(taskId),
  ]);
  return rows.length > 0;
}

/** True once one of the task's sessions is executing a statement that reads rows (not its setup). */
export async function postgresQueryRunning(engines: PatientEngines, taskId: string): Promise<boolean> {
  const rows = await adminQuery(
    engines,
    "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE 'SELECT %' AND query NOT LIKE '%information_schema%'",
    [`tremesh task ${taskId}`],
  );
  return rows.length > 0;
}

/** What a run on `engine` may have left: a PostgreSQL session of the task, or a held DuckDB file. */
export async function engineLeftovers(
  engines: PatientEngines,
  engine: ConformanceEngine,
  taskId: string,
): Promise<string[]> {
  if (engine === "postgres") {
    const n = await postgresSessions(engines, taskId);
    return n === 0 ? [] : [`${n} PostgreSQL session(s) of the task`];
  }
  const [file] = engines.datasets("duckdb").filter((d): d is DuckDbDataset => d.engine === "duckdb");
  return (await duckDbFileFree(file!.path)) ? [] : ["the DuckDB file, still open"];
}
