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
