/**
 * The engine that reads one dataset with the task's credential: PostgreSQL with the broker's per-task
 * role, DuckDB (read-only) for a database, CSV or Parquet file. The query executor queries through it
 * and the container executor extracts through it, so both refuse a mismatched credential alike.
 */
import { ExecutorFailed } from "../errors.js";
import type { ExecutorCredential } from "../executor.js";
import type { DatasetDefinition } from "./dataset.js";
import { DuckDbEngine, type DuckDbEngineOptions } from "./duckdb-engine.js";
import type { DuckDbInstances } from "./duckdb-instances.js";
import type { QueryEngine } from "./engine.js";
import { PostgresEngine } from "./postgres-engine.js";

export interface CreateEngineOptions {
  /** Names the PostgreSQL session (application_name), never data. */
  taskId: string;
  /** The run's budget: PostgreSQL's connect timeout and statement_timeout. */
  timeoutMs: number;
  duckdb?: DuckDbEngineOptions;
  /** File datasets' instances kept open between runs; without, the run opens and closes its own. */
  duckdbInstances?: DuckDbInstances;
}

/** Throws ExecutorFailed (not retryable: the agent's mistake) when the credential does not fit the dataset. */
export function createEngine(
  dataset: DatasetDefinition,
  credential: ExecutorCredential,
  options: CreateEngineOptions,
): QueryEngine {
  if (dataset.engine === "postgres") {
    if (credential.kind !== "postgres")
      throw new ExecutorFailed("a PostgreSQL dataset needs a postgres credential from the broker", {
        retryable: false,
      });
    return new PostgresEngine(dataset, credential, { taskId: options.taskId, timeoutMs: options.timeoutMs });
  }
  if (credential.kind !== "read-only-file")
    throw new ExecutorFailed("a file dataset takes the read-only-file credential", { retryable: false });
  return new DuckDbEngine(dataset, options.duckdb, options.duckdbInstances);
}
