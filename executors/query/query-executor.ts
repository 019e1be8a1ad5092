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
 * ExecutorCancelled); the run's connection is closed before `run` settles, whatever happened (its dataset's
 * DuckDB instance may stay open for the next run: duckdb-instances.ts).
 *
 * @example
 * const [output] = await new QueryExecutor().run({ taskId, analysis, datasets, credential, timeoutMs: 60_000 });
 * output.description.kind; // "count"
 */
import { type AnalysisKind, decodeOutput, encodeOutput, OUTPUT_MEDIA_TYPE } from "../../protocol/index.js";
import { AnalysisRefused } from "../errors.js";
import type { Executor, ExecutorOutput, ExecutorTask, RunOptions } from "../executor.js";
import { checkBudget, RunGuard } from "../run-guard.js";
import { compile, validateQuerySpec } from "./compile.js";
import { createEngine } from "./create-engine.js";
import { dominanceFacts } from "./dominance-facts.js";
import type { DuckDbEngineOptions } from "./duckdb-engine.js";
import { DuckDbInstances } from "./duckdb-instances.js";
import { classifyEngineError } from "./engine-errors.js";
import { buildOutput } from "./results.js";
import { checkStorage } from "./storage-check.js";

export interface QueryExecutorOptions {
  /** Limits for each file dataset's DuckDB instance (threads, memory). Default: DuckDB's own. */
  duckdb?: DuckDbEngineOptions;
  /**
   * How long a file dataset's DuckDB instance stays open after its last run, for the next one, in ms; 0 opens
   * one for every run. Default `DUCKDB_KEEP_OPEN_MS` (2 s). A DuckDB file is locked while open.
   */
  keepOpenMs?: number;
}

export class QueryExecutor implements Executor {
  readonly kinds: readonly AnalysisKind[] = ["count", "summary", "histogram", "crosstab", "regression"];
  readonly #instances: DuckDbInstances;

  constructor(readonly options: QueryExecutorOptions = {}) {
    this.#instances = new DuckDbInstances({
      ...options.duckdb,
      ...(options.keepOpenMs !== undefined ? { keepOpenMs: options.keepOpenMs } : {}),
    });
  }

  /** Closes the DuckDB instances kept open (each once its runs end); runs after this open their own. */
  async close(): Promise<void> {
    await this.#instances.close();
  }

  async run(task: ExecutorTask, options: RunOptions = {}): Promise<ExecutorOutput[]> {
    checkBudget(task.timeoutMs);
    const spec = validateQuerySpec(task.analysis);
    const dataset = task.datasets.find((d) => d.name === spec.dataset);
    if (dataset === undefined)
      throw new AnalysisRefused("dataset", `'${spec.dataset}' is not a dataset of this TRE`);
    const query = compile(spec, dataset);

    using guard = new RunGuard(task.timeoutMs, options.signal);
    const engine = createEngine(dataset, task.credential, {
      taskId: task.taskId,
      timeoutMs: task.timeoutMs,
      ...(this.options.duckdb ? { duckdb: this.options.duckdb } : {}),
      duckdbInstances: this.#instances,
    });
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
      throw classifyEngineError(error, dataset, task.timeoutMs);
    } finally {
      await engine.close();
    }
  }
}
