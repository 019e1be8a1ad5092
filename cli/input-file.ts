/** Reading a file the user named on the command line. */
import { readFile } from "node:fs/promises";
import { isSystemError, systemErrorWhy } from "../common/index.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** The bytes of `file`; one that cannot be read is the user's input error, named in words (exit 3). */
export async function readInputFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (cause) {
    if (!isSystemError(cause)) throw cause;
    throw new CliError(`${file}: cannot read: ${systemErrorWhy(cause)}; check the path`, ExitCode.badInput, {
      cause,
    });
  }
}
