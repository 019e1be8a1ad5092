/** Reading a file the user named on the command line. */
import { InputFileError, isSystemError, readBoundedFile, systemErrorTold } from "../common/index.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** What tremesh reads of a file a user names, by default: an analysis or a task is far smaller. */
export const MAX_INPUT_FILE_BYTES = 16 * 1024 * 1024;

/**
 * The bytes of `file`, at most `maxBytes`; one that cannot be read, a device (/dev/zero would be read forever) or
 * a larger one is the user's input error, named in words (exit 3), after `command` when given ("crate verify: FILE:
 * cannot read: …").
 */
export async function readInputFile(
  file: string,
  command?: string,
  maxBytes = MAX_INPUT_FILE_BYTES,
): Promise<Buffer> {
  try {
    return await readBoundedFile(file, maxBytes);
  } catch (cause) {
    if (!isSystemError(cause) && !(cause instanceof InputFileError)) throw cause;
    throw cannotRead(file, cause, command);
  }
}

/**
 * The input error (exit 3) for a file the user named that could not be read: `[command: ]FILE: cannot read: …`, in
 * words where `cause` is a system error ("no such file or folder (ENOENT); check the path") or an InputFileError.
 */
export function cannotRead(file: string, cause: unknown, command?: string): CliError {
  const why = isSystemError(cause)
    ? systemErrorTold(cause)
    : cause instanceof InputFileError
      ? cause.problem
      : String(cause);
  return new CliError(`${command ? `${command}: ` : ""}${file}: cannot read: ${why}`, ExitCode.badInput, {
    cause,
  });
}
