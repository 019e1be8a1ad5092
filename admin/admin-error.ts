/**
 * The one error type of the federation-admin library. Its `code` says what kind of failure it is; the
 * `tremesh` command turns each code into the exit code of the same name (cli/exit-codes.ts).
 */
export const AdminErrorCode = {
  /** The operation ran and failed: the federation exists already, no such TRE or researcher. */
  failed: "failed",
  /** What was asked for is malformed: a bad name, a wrong number of hub nodes. */
  usage: "usage",
  /** The admin folder's files are missing or invalid. */
  badInput: "badInput",
  /** The hub could not be reached, or did not answer in time. */
  unavailable: "unavailable",
} as const;
export type AdminErrorCode = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];

/** A refused or failed admin operation, with a message meant for the federation admin. */
export class AdminError extends Error {
  override readonly name = "AdminError";
  constructor(
    message: string,
    readonly code: AdminErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
