import { setTimeout as sleep } from "node:timers/promises";

export class WaitTimeoutError extends Error {
  override readonly name = "WaitTimeoutError";
  constructor(what: string, timeoutMs: number, options?: ErrorOptions) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`, options);
  }
}

/**
 * Polls `check` until it returns a value other than undefined/false, and returns it. Tests wait on
 * observable state (a link in /leafz, a line in a log) instead of sleeping for a guessed time.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 15_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const result = await check();
      if (result !== undefined && result !== false) return result;
    } catch (error) {
      lastError = error; // e.g. monitoring not answering yet; keep polling
    }
    if (Date.now() > deadline) throw new WaitTimeoutError(what, timeoutMs, { cause: lastError });
    await sleep(intervalMs);
  }
}
