/** Process exit codes of every tremesh command, documented in `tremesh --help`. */
export const ExitCode = {
  ok: 0,
  /** The operation ran and failed (a task failed, a check found a problem). */
  failed: 1,
  /** The command line was wrong: unknown command, bad flag, missing argument. */
  usage: 2,
  /** A config or input file is missing or invalid. */
  badInput: 3,
  /** A server or peer could not be reached, or did not answer in time. */
  unavailable: 4,
  /** Refused: not authorised, bad signature, revoked. */
  refused: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A user mistake or a refused operation: printed as one line, never as a stack trace. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
