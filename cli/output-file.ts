/**
 * Writing a file the user asked for (`--out`, `--plot`): never over a file already there, and into a folder made
 * only where its parent already is, so that a mistyped path fails with its reason instead of clobbering a file or
 * leaving folders about. The same rule as `--save-files` and `keygen --out`.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { CliError, ExitCode } from "./exit-codes.js";

/** Writes `bytes` to `path`, which must not exist yet. */
export async function writeNewFile(path: string, bytes: Uint8Array | string): Promise<void> {
  try {
    await writeFile(path, bytes, { flag: "wx" });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause;
    throw new CliError(
      `${path} exists; tremesh does not write over a file: give another path, or move it away first`,
      ExitCode.badInput,
      { cause },
    );
  }
}

/** Makes the folder `dir` unless it is there; its parent must be (a mistyped parent fails, naming it). */
export async function outputFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause;
  }
}
