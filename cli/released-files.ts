/**
 * Released files on the researcher's side (`results` / `aggregate --save-files DIR`): listing them and
 * writing them to disk. A file's name comes from a TRE, and the researcher's machine does not trust a
 * TRE with its file system: every name is made a plain file name (`safeFileName`), names that end up
 * equal are told apart (`-2`, `-3`…), and nothing that is already there is followed or overwritten.
 */
import { constants } from "node:fs";
import { lstat, mkdir, open, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { isSystemError, systemErrorTold } from "../common/index.js";
import { isTreName, uniqueSafeNames } from "../protocol/index.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { printable } from "./printable.js";

/** What `saveReleasedFiles` needs of a released file. */
export interface FileToSave {
  tre: string;
  name: string;
  data: Uint8Array;
}

export interface SavedFile {
  tre: string;
  /** The name the TRE gave. */
  name: string;
  /** Where it was written: `DIR/<tre>/<safe name>`. */
  path: string;
  bytes: number;
}

/**
 * Writes each file to `dir/<tre>/<safe name>` (folders created with mode 0o700, files 0o600). `dir` is made only
 * where its parent already is, as `--out` folders are (`output-file.ts`): a mistyped parent is refused naming it,
 * and no recursive mkdir runs (under /proc Node's retries one forever, told ENOENT beneath a folder that is there). Every target
 * is checked before anything is written: an existing file or symlink at a target, or a `<tre>` that is a
 * symlink or not a folder, refuses the whole save with a CliError naming it. Files are then created
 * exclusively (`O_EXCL | O_NOFOLLOW`), so one appearing meanwhile is refused too, never followed.
 * Writes nothing, and creates no folder, when there are no files.
 *
 * @example
 * for (const s of await saveReleasedFiles("out", r.files)) console.error(`${s.tre}: ${s.path}`);
 */
export async function saveReleasedFiles(dir: string, files: readonly FileToSave[]): Promise<SavedFile[]> {
  if (files.length === 0) return [];
  const top = await orUndefined(stat(dir));
  if (top && !top.isDirectory()) throw refuse(`${dir} exists and is not a folder`);
  const byTre = new Map<string, FileToSave[]>();
  for (const f of files) byTre.set(f.tre, [...(byTre.get(f.tre) ?? []), f]);
  const plan: (SavedFile & { data: Uint8Array })[] = [];
  for (const [tre, group] of byTre) {
    // TRE names were validated with their Release; checked again because they become a folder name here.
    if (!isTreName(tre)) throw refuse(`${printable(tre)} is not a TRE name; not used as a folder name`);
    const folder = join(dir, tre);
    const there = await orUndefined(lstat(folder));
    if (there?.isSymbolicLink()) throw refuse(`${folder} is a symlink; not following it`);
    if (there && !there.isDirectory()) throw refuse(`${folder} exists and is not a folder`);
    const names = uniqueSafeNames(group.map((f) => f.name));
    group.forEach((f, i) => {
      plan.push({
        tre,
        name: f.name,
        path: join(folder, names[i] ?? ""),
        bytes: f.data.length,
        data: f.data,
      });
    });
  }
  for (const p of plan) {
    const there = await orUndefined(lstat(p.path));
    if (there) throw refuse(existing(p.path, there.isSymbolicLink()));
  }
  for (const folder of [dir, ...[...byTre.keys()].map((tre) => join(dir, tre))]) await makeFolder(folder);
  const saved: SavedFile[] = [];
  for (const p of plan) {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    let handle: Awaited<ReturnType<typeof open>>;
    try {
      handle = await open(p.path, flags, 0o600);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "EEXIST" && code !== "ELOOP") throw e;
      throw new CliError(
        `--save-files: ${existing(p.path, code === "ELOOP")}; ${saved.length} file(s) written before it`,
        ExitCode.failed,
      );
    }
    try {
      await handle.writeFile(p.data);
    } finally {
      await handle.close();
    }
    saved.push({ tre: p.tre, name: p.name, path: p.path, bytes: p.bytes });
  }
  return saved;
}

/**
 * Makes the one folder `dir` (mode 0o700) unless it is there, in a parent that must be there; any other failure
 * is refused naming `dir`.
 */
async function makeFolder(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (cause) {
    if (!isSystemError(cause)) throw cause;
    if (cause.code === "EEXIST") return;
    const parent = dirname(dir);
    const parentThere = cause.code === "ENOENT" && (await orUndefined(stat(parent))) !== undefined;
    const why =
      cause.code !== "ENOENT"
        ? systemErrorTold(cause)
        : parentThere
          ? `${parent} does not take new folders (a file system such as /proc); give a folder on a disk`
          : `its parent folder ${parent} does not exist; make it first, or give a folder that does`;
    throw new CliError(
      `--save-files: cannot make the folder ${dir}: ${why}; nothing was written`,
      ExitCode.failed,
      {
        cause,
      },
    );
  }
}

async function orUndefined<T>(stats: Promise<T>): Promise<T | undefined> {
  try {
    return await stats;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

function refuse(message: string): CliError {
  return new CliError(`--save-files: ${message}; nothing was written`, ExitCode.failed);
}

function existing(path: string, symlink: boolean): string {
  return symlink
    ? `${path} is a symlink; not following or replacing it`
    : `${path} already exists; not overwriting it (move it away or choose another folder)`;
}

/** A byte count for people: `812 B`, `4.2 KiB`, `1.5 MiB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
