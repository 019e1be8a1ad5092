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
    throw new CliError(
      `${command ? `${command}: ` : ""}${file}: cannot read: ${systemErrorTold(cause)}`,
      ExitCode.badInput,
      {
        cause,
      },
    );
  }
}
