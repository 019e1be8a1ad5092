/**
 * The built-in query executor: declarative analyses (count, summary, histogram, crosstab,
 * regression) compiled to one parameterised statement over the dataset's allowed columns, run on
 * DuckDB (database file, CSV, Parquet) or PostgreSQL (with the task's ephemeral role), answered with
 * one JSON output description.
 *
 * Steps, each able to end the run with a sentinel error: re-check the spec and find its dataset
 * (AnalysisRefused); compile (AnalysisRefused); open the engine read-only; compare the table's
 * columns with the TRE's declaration (ExecutorFailed / AnalysisRefused); run; describe the result;
 * for a summary, run its private dominance query too (facts for the airlock, never in the output).
 * Timeout and cancellation interrupt whichever step is in flight (ExecutorTimeout /
 * ExecutorCancelled); the engine is closed before `run` settles, whatever happened.
 *
 * @example
 * const [output] = await new QueryExecutor().run({ taskId, analysis, datasets, credential, timeoutMs: 60_000 });
 * output.description.kind; // "count"
 */
import {
  type AnalysisKind,
  decodeOutput,
  encodeOutput,
  FieldError,
  OUTPUT_MEDIA_TYPE,
} from "../../protocol/index.js";
import { AnalysisRefused, ExecutorFailed, ExecutorTimeout, isExecutorError } from "../errors.js";
import type { Executor, ExecutorOutput, ExecutorTask, RunOptions } from "../executor.js";
import { RunGuard } from "../run-guard.js";
import { compile, validateQuerySpec } from "./compile.js";
import type { DatasetDefinition } from "./dataset.js";
import { dominanceFacts } from "./dominance-facts.js";
import { DuckDbEngine, type DuckDbEngineOptions } from "./duckdb-engine.js";
import type { QueryEngine } from "./engine.js";
import { PostgresEngine } from "./postgres-engine.js";
import { buildOutput, ResultShapeError } from "./results.js";
import { checkStorage } from "./storage-check.js";

export interface QueryExecutorOptions {
  /** Limits for each run's DuckDB instance (threads, memory). Default: DuckDB's own. */
  duckdb?: DuckDbEngineOptions;
}

/** Longest budget a timer can hold (about 24.8 days); longer ones would fire at once. */
const MAX_TIMEOUT_MS = 2_147_483_647;

export class QueryExecutor implements Executor {
  readonly kinds: readonly AnalysisKind[] = ["count", "summary", "histogram", "crosstab", "regression"];

  constructor(readonly options: QueryExecutorOptions = {}) {}

  async run(task: ExecutorTask, options: RunOptions = {}): Promise<ExecutorOutput[]> {
    if (!Number.isSafeInteger(task.timeoutMs) || task.timeoutMs <= 0 || task.timeoutMs > MAX_TIMEOUT_MS)
      throw new ExecutorFailed(`timeoutMs must be a whole number of ms from 1 to ${MAX_TIMEOUT_MS}`, {
        retryable: false,
      });
    const spec = validateQuerySpec(task.analysis);
    const dataset = task.datasets.find((d) => d.name === spec.dataset);
    if (dataset === undefined)
      throw new AnalysisRefused("dataset", `'${spec.dataset}' is not a dataset of this TRE`);
    const query = compile(spec, dataset);

    using guard = new RunGuard(task.timeoutMs, options.signal);
    const engine = this.#engine(task, dataset);
    try {
      const interrupt = () => engine.interrupt();
      await guard.interruptible(() => engine.open(), interrupt);
      checkStorage(query, dataset, await guard.interruptible(() => engine.columnTypes(), interrupt));
      const rows = await guard.interruptible(() => engine.query(query.sql, query.params), interrupt);
      const bytes = encodeOutput(buildOutput(query, rows));
      const description = decodeOutput(bytes);
      const output: ExecutorOutput = {
        name: `${spec.kind}.json`,
        mediaType: OUTPUT_MEDIA_TYPE,
        bytes,
        description,
      };
      const dominance = query.dominance;
      if (dominance !== undefined && description.kind === "summary") {
        const factRows = await guard.interruptible(
          () => engine.query(dominance.sql, dominance.params),
          interrupt,
        );
        const { cells, groupBy } = description;
        output.facts = { dominance: dominanceFacts(cells, groupBy.length, factRows) };
      }
      return [output];
    } catch (error) {
      throw classify(error, dataset, task.timeoutMs);
    } finally {
      await engine.close();
    }
  }

  #engine(task: ExecutorTask, dataset: DatasetDefinition): QueryEngine {
    const credential = task.credential;
    if (dataset.engine === "postgres") {
      if (credential.kind !== "postgres")
        throw new ExecutorFailed("a PostgreSQL dataset needs a postgres credential from the broker", {
          retryable: false,
        });
      return new PostgresEngine(dataset, credential, { taskId: task.taskId, timeoutMs: task.timeoutMs });
    }
    if (credential.kind !== "read-only-file")
      throw new ExecutorFailed("a file dataset takes the read-only-file credential", { retryable: false });
    return new DuckDbEngine(dataset, this.options.duckdb);
  }
}

/** PostgreSQL SQLSTATEs after which the same task may succeed later. */
const RETRYABLE_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;
const TRANSIENT_NET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EPIPE",
]);

/**
 * Turns an engine error into a sentinel. Database messages stay in `cause`: they can quote data
 * values (a failed conversion names the value), and this message may travel to the researcher.
 */
function classify(error: unknown, dataset: DatasetDefinition, timeoutMs: number): Error {
  if (isExecutorError(error)) return error;
  if (error instanceof ResultShapeError || error instanceof FieldError)
    return new ExecutorFailed(`the query result could not be described (${error.message})`, {
      retryable: false,
      cause: error,
    });
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  if (dataset.engine === "postgres") {
    // query_canceled while our guard had not stopped the run: the server's statement_timeout fired first.
    if (code === "57014") return new ExecutorTimeout(timeoutMs, { cause: error });
    if (code === "28P01" || code === "28000")
      return new ExecutorFailed("PostgreSQL refused the task's credential", {
        retryable: false,
        cause: error,
      });
    const retryable = code !== undefined && (RETRYABLE_SQLSTATE.test(code) || TRANSIENT_NET.has(code));
    return new ExecutorFailed(`PostgreSQL could not run the analysis (${code ?? "no SQLSTATE"})`, {
      retryable,
      cause: error,
    });
  }
  const kind = typeof e.message === "string" ? /^([A-Za-z ]{1,40} Error):/.exec(e.message)?.[1] : undefined;
  // An IO error is usually the file being locked or replaced by the TRE's own loader: worth another try.
  return new ExecutorFailed(`DuckDB could not run the analysis (${kind ?? "unknown error"})`, {
    retryable: kind === "IO Error",
    cause: error,
  });
}
