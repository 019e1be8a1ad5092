/** Reading a file the user named on the command line. */
import { readFile } from "node:fs/promises";
import { isSystemError, systemErrorTold } from "../common/index.js";
import { CliError, ExitCode } from "./exit-codes.js";

/**
 * The bytes of `file`; one that cannot be read is the user's input error, named in words (exit 3), after `command`
 * when given ("crate verify: FILE: cannot read: …").
 */
export async function readInputFile(file: string, command?: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    if (!isSystemError(cause)) throw cause;
    throw cannotRead(file, cause, command);
  }
}

/**
 * The input error (exit 3) for a file the user named that could not be read: `[command: ]FILE: cannot read: …`, in
 * words where `cause` is a system error ("no such file or folder (ENOENT); check the path").
 */
export function cannotRead(file: string, cause: unknown, command?: string): CliError {
  const why = isSystemError(cause) ? systemErrorTold(cause) : String(cause);
  return new CliError(`${command ? `${command}: ` : ""}${file}: cannot read: ${why}`, ExitCode.badInput, {
    cause,
  });
}
