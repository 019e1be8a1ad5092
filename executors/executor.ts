/**
 * The one contract the leaf agent drives every executor through: the query executor (DuckDB, PostgreSQL)
 * and the container executor. The agent has already verified and authorised the task; it hands over
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
  /**
   * Where the executor writes what the TRE's operators should be able to look up later (a container's exit
   * code and log file): the agent appends each to the TRE's audit log. Never sent to the researcher.
   */
  record?: (action: string, details: Record<string, string | number | boolean>) => void;
}

export interface RunOptions {
  /** Aborting it stops the running query and ends the run with ExecutorCancelled. */
  signal?: AbortSignal;
}

/** How many of a cell's largest values a DominanceFact holds: the largest n a dominance rule may use. */
export const DOMINANCE_TOP_VALUES = 5;

/**
 * What the airlock's dominance rule (n, k) needs about one summary cell: a summary releases n·mean,
 * the cell's total, so the cell is disclosive when its few largest contributors make up most of it.
 * Raw values, so private: see DisclosureFacts.
 */
export interface DominanceFact {
  /** The cell, as "cells[i]" with the same index as the output's `cells`. */
  at: string;
  /** Sum of |v| over the cell's non-null values (0 for a cell without any). */
  total: number;
  /** The largest |v| of the cell, descending, at most DOMINANCE_TOP_VALUES of them. */
  top: number[];
}

/**
 * Private facts for the airlock's checks; they stay inside the TRE and are never released. They are
 * kept apart from the output description on purpose: the description is what a reviewer may
 * release, and nothing that reaches it can hold a single person's value.
 */
export interface DisclosureFacts {
  /** One fact per summary cell; absent for other kinds and for executors that cannot give them. */
  dominance?: DominanceFact[];
}

/**
 * One file for the airlock: its bytes, and, for an output description (media type OUTPUT_MEDIA_TYPE),
 * the validated description the disclosure checks read. A container's other files (a table, a plot, a
 * report) have no description: the airlock holds them for a reviewer to read.
 */
export interface ExecutorOutput {
  /** File name inside the task's output set, e.g. "count.json"; only [A-Za-z0-9._-]. */
  name: string;
  mediaType: string;
  bytes: Uint8Array;
  /** Present exactly when `mediaType` is OUTPUT_MEDIA_TYPE. */
  description?: AnalysisOutput;
  /** Facts for the disclosure checks only; never part of `bytes`, never to leave the TRE. */
  facts?: DisclosureFacts;
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
  /**
   * Removes what runs of an earlier agent process left behind (a container executor's containers and
   * scratch directories after a crash). The agent calls it once at start, before taking any task;
   * resolves with how many things it removed.
   */
  cleanUp?(): Promise<number>;
  /** Lets go of what it keeps between runs (open database instances); its owner calls it once no run is left. */
  close?(): Promise<void>;
}
