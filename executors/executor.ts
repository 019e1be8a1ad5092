/**
 * The one contract the leaf agent drives every executor through: the query executor today, the
 * container executor later. The agent has already verified and authorised the task; it hands over
 * the analysis, the TRE's definitions of the datasets it names, an ephemeral credential from the
 * credential broker and a wall-clock budget, and gets back outputs for the airlock, or one of the
 * sentinel errors in `errors.ts`.
 *
 * @example
 * const executor: Executor = new QueryExecutor();
 * const outputs = await executor.run(
 *   { taskId, analysis, datasets: [patients], credential: issued.credential, timeoutMs: 60_000 },
 *   { signal: cancel.signal },
 * );
 */
import type { AnalysisKind, AnalysisOutput, AnalysisSpec } from "../protocol/index.js";
import type { DatasetDefinition } from "./query/dataset.js";

/**
 * A per-task PostgreSQL login made by the credential broker: valid for this task only, able to read
 * only the allowed columns. `password` is not enumerable, so logging or serialising the object by
 * accident does not reveal it.
 */
export interface PostgresCredential {
  readonly kind: "postgres";
  /** Host name, or the directory of a unix socket. */
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

/** File datasets (DuckDB, CSV, Parquet) need no secret: the executor opens them read-only. */
export interface ReadOnlyFileCredential {
  readonly kind: "read-only-file";
}

export type ExecutorCredential = PostgresCredential | ReadOnlyFileCredential;

export interface ExecutorTask {
  /** The task id (a ULID); names connections and roles, never data. */
  taskId: string;
  analysis: AnalysisSpec;
  /** The TRE's definitions of the datasets the analysis names, resolved by the agent from its config. */
  datasets: readonly DatasetDefinition[];
  credential: ExecutorCredential;
  /** Wall-clock budget for the whole run (connect, check, query), in milliseconds. */
  timeoutMs: number;
}

export interface RunOptions {
  /** Aborting it stops the running query and ends the run with ExecutorCancelled. */
  signal?: AbortSignal;
}

/** One file for the airlock: its bytes, and the validated description the SDC checks read. */
export interface ExecutorOutput {
  /** File name inside the task's output set, e.g. "count.json". */
  name: string;
  mediaType: string;
  bytes: Uint8Array;
  description: AnalysisOutput;
}

export interface Executor {
  /** Analysis kinds this executor runs; the agent picks the executor by the spec's kind. */
  readonly kinds: readonly AnalysisKind[];
  /**
   * Runs one task to completion. Resolves with its outputs; rejects with AnalysisRefused,
   * ExecutorTimeout, ExecutorCancelled or ExecutorFailed, and by then every connection it opened is
   * closed.
   */
  run(task: ExecutorTask, options?: RunOptions): Promise<ExecutorOutput[]>;
}
