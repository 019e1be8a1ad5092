/**
 * How an executor run can end other than with outputs. The leaf agent steers by the class (or, after
 * a hop, by `code`): a refusal is final and goes back to the researcher with its message; a failure
 * may be retried when `retryable` says so; a timeout or a cancellation ends the task.
 *
 * Messages never carry data values or secrets: database errors (which can quote a value, e.g. "could
 * not convert string 'north'") stay in `cause`, inside the TRE.
 */

/** Codes for the wire, one table, so a status event is classified by code and never by text. */
export const ExecutorErrorCode = {
  refused: "analysis_refused",
  timeout: "executor_timeout",
  cancelled: "executor_cancelled",
  failed: "executor_failed",
} as const;
export type ExecutorErrorCode = (typeof ExecutorErrorCode)[keyof typeof ExecutorErrorCode];

/**
 * The analysis cannot run here, and never will as asked: unknown dataset or column, an identifier
 * column, a column of the wrong type, a filter value that does not fit. Not retryable. `field` is
 * the path in the analysis spec (`filters[1].value`, `groupBy[0]`), as in a FieldError.
 *
 * @example
 * throw new AnalysisRefused("groupBy[0]", "'patient_id' is an identifier column and can never be used");
 */
export class AnalysisRefused extends Error {
  override readonly name = "AnalysisRefused";
  readonly code = ExecutorErrorCode.refused;
  readonly retryable = false;
  constructor(
    readonly field: string,
    readonly problem: string,
    options?: ErrorOptions,
  ) {
    super(`${field || "(analysis)"}: ${problem}`, options);
  }
}

/**
 * The image a container task names, allowed for its project, is not in the TRE's container engine under that digest
 * (images are never pulled): a refusal to the researcher, and the TRE's operator's to mend, so the leaf's log names it.
 */
export class ImageNotPresent extends AnalysisRefused {
  constructor(readonly image: string) {
    super("image", "is not present in this TRE with that digest (images are never pulled)");
  }
}

/** The run used up its wall-clock budget; the query was stopped and its connection closed. */
export class ExecutorTimeout extends Error {
  override readonly name = "ExecutorTimeout";
  readonly code = ExecutorErrorCode.timeout;
  readonly retryable = false;
  constructor(
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`the analysis did not finish within ${timeoutMs} ms`, options);
  }
}

/** The run was cancelled through its AbortSignal; the query was stopped and its connection closed. */
export class ExecutorCancelled extends Error {
  override readonly name = "ExecutorCancelled";
  readonly code = ExecutorErrorCode.cancelled;
  readonly retryable = false;
  constructor(options?: ErrorOptions) {
    super("the analysis was cancelled", options);
  }
}

/**
 * Anything else: the database could not be reached, the TRE's dataset definition does not match the
 * table, an engine error. `retryable` is true only where trying again later can help (a connection
 * refused or dropped), never for a mistake in the TRE's configuration. The leaf agent reads it: a retryable
 * failure runs the task again after a back-off while its attempts last (leaf.yaml `maxTaskAttempts`,
 * `retryBackoffMs`; leaf/task-execution.ts); any other ends the task.
 */
export class ExecutorFailed extends Error {
  override readonly name = "ExecutorFailed";
  readonly code = ExecutorErrorCode.failed;
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable;
  }
}

/** Any of the four, e.g. to catch them together. */
export type ExecutorError = AnalysisRefused | ExecutorTimeout | ExecutorCancelled | ExecutorFailed;

export function isExecutorError(error: unknown): error is ExecutorError {
  return (
    error instanceof AnalysisRefused ||
    error instanceof ExecutorTimeout ||
    error instanceof ExecutorCancelled ||
    error instanceof ExecutorFailed
  );
}
