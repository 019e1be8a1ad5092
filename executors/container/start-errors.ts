/**
 * Telling a container that could not start because of its own command (a researcher's mistake: final)
 * from an engine that could not start it (worth another try), by what the engine says in its codes.
 */

/** Podman's error constants (libpod/define) for an exec that failed because of the command itself. */
const PODMAN_UNRUNNABLE = new Set([
  "OCI runtime attempted to invoke a command that was not found",
  "OCI permission denied",
]);

/**
 * Whether a failed start was the command's own fault (missing from the image, not executable), which
 * no retry can mend: Docker answers 400 (invalid parameter), Podman a 500 whose `cause` is one of its
 * fixed error constants. Anything else (the engine unreachable, out of resources) is worth another try.
 */
export function isUnrunnableCommand(error: unknown): boolean {
  const e = error as { statusCode?: unknown; json?: { cause?: unknown } };
  return e.statusCode === 400 || PODMAN_UNRUNNABLE.has(String(e.json?.cause));
}
