/** Node's file-system errors (`ENOENT: no such file or directory, open '…'`) as one line a person can act on. */

const WHY: Readonly<Record<string, string>> = {
  ENOENT: "no such file or folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "is a folder, not a file",
  ENOTDIR: "part of the path is not a folder",
  EEXIST: "already exists",
  ENOSPC: "no space left on the device",
  EROFS: "the file system is read-only",
  ENAMETOOLONG: "the name is too long",
};

/** Whether `e` is a system call's error (it carries an errno `code` and the `syscall` that failed). */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string" && "syscall" in e;
}

/** `no such file or folder (ENOENT)`: the words first, the code for a search. */
export function systemErrorWhy(e: NodeJS.ErrnoException & { code: string }): string {
  return `${WHY[e.code] ?? e.syscall ?? "system error"} (${e.code})`;
}

/** What to do about a file error, by its code: "check the path", "check its permissions", "give another path"… */
const ADVICE: Readonly<Record<string, string>> = {
  ENOENT: "check the path",
  ENOTDIR: "check the path",
  EISDIR: "give a file",
  EACCES: "check its permissions",
  EPERM: "check its permissions",
  EEXIST: "give another path, or move it away first",
  ENOSPC: "free some space",
  EROFS: "give a path on a writable file system",
  ENAMETOOLONG: "give a shorter name",
};

/** `no such file or folder (ENOENT); check the path`: the words, the code, and what to do. */
export function systemErrorTold(e: NodeJS.ErrnoException & { code: string }): string {
  const advice = ADVICE[e.code];
  return `${systemErrorWhy(e)}${advice ? `; ${advice}` : ""}`;
}
