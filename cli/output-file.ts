/**
 * Writing a file the user asked for (`--out`, `--plot`): never over a file already there, and into a folder made
 * only where its parent already is, so that a mistyped path fails with its reason instead of clobbering a file or
 * leaving folders about. The same rule as `--save-files` and `keygen --out`.
 */
import type { Stats } from "node:fs";
import { lstat, mkdir, stat, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { kernelFileSystemOf } from "../common/index.js";
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

/** Whether an `--out` path names one `.zip` file, in any case (`x.ZIP` too), rather than a folder to write into. */
export function namesZipFile(out: string): boolean {
  return /\.zip$/i.test(out);
}

/**
 * Makes the `--out` folder `dir` unless it is there; its parent must be (a mistyped parent fails, naming it). Something
 * other than a folder there (a file, `/dev/null`) is refused as such, not as a path to a file inside it.
 */
export async function outputFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== "EEXIST") throw cause;
    if (!(await statOrUndefined(dir))?.isDirectory())
      throw new CliError(
        `--out ${dir}: exists and is not a folder; give a folder, or a file path ending in .zip`,
        ExitCode.badInput,
        { cause },
      );
  }
}

/**
 * Refuses, before anything is sent or waited for, a `--save-files` folder or `--plot` file that could not be written
 * at the end (a task can await review for days): a folder whose parent is missing, a path that is not a folder, a
 * plot file already there, or a place under /proc or /sys, file systems the kernel provides.
 */
export async function checkOutputPaths(
  command: string,
  { saveFiles, plot }: { saveFiles?: string | undefined; plot?: string | undefined },
): Promise<void> {
  const refuse = (flag: string, path: string, why: string) =>
    new CliError(`${command}: ${flag} ${path}: ${why}`, ExitCode.badInput);
  if (saveFiles !== undefined) {
    const k = kernelFileSystemOf(saveFiles);
    if (k)
      throw refuse(
        "--save-files",
        saveFiles,
        `is in ${k}, a file system the kernel provides: give a folder on a disk`,
      );
    const there = await statOrUndefined(saveFiles);
    if (there && !there.isDirectory()) throw refuse("--save-files", saveFiles, "exists and is not a folder");
    if (!there && !(await statOrUndefined(dirname(saveFiles)))?.isDirectory())
      throw refuse(
        "--save-files",
        saveFiles,
        `its parent folder ${dirname(saveFiles)} does not exist; make it first`,
      );
  }
  if (plot !== undefined) {
    const k = kernelFileSystemOf(plot);
    if (k)
      throw refuse("--plot", plot, `is in ${k}, a file system the kernel provides: give a file on a disk`);
    if (await lstatOrUndefined(plot))
      throw refuse(
        "--plot",
        plot,
        "exists; tremesh does not write over a file: give another path, or move it away first",
      );
    if (!(await statOrUndefined(dirname(plot)))?.isDirectory())
      throw refuse("--plot", plot, `its folder ${dirname(plot)} does not exist; make it first`);
  }
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  return stat(path).catch(() => undefined);
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  return lstat(path).catch(() => undefined);
}
