/**
 * One run's wall-clock budget and cancellation, for any executor. When the budget runs out or the
 * signal aborts, the guard interrupts whatever operation is in flight, and keeps interrupting it until
 * it settles: an interrupt that lands just before the engine starts the work (a query still queued in
 * the client) would otherwise be lost. Callers wait for the operation to settle before closing its
 * connection, so a run never returns while the database is still working for it.
 *
 * @example
 * using guard = new RunGuard(task.timeoutMs, options.signal);
 * const rows = await guard.interruptible(() => engine.query(sql, params), () => engine.interrupt());
 */
import { ExecutorCancelled, ExecutorFailed, ExecutorTimeout } from "./errors.js";

/** Longest budget a timer can hold (about 24.8 days); longer ones would fire at once. */
export const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * Throws ExecutorFailed (not retryable) unless `timeoutMs` is a whole number of ms from 1 to
 * MAX_TIMEOUT_MS. Every executor calls it first: a timer given 0, NaN or more than it can hold fires
 * at once, which would turn the agent's mistake into a timeout the researcher is told about.
 */
export function checkBudget(timeoutMs: number): void {
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS)
    throw new ExecutorFailed(`timeoutMs must be a whole number of ms from 1 to ${MAX_TIMEOUT_MS}`, {
      retryable: false,
    });
}

/** How often an interrupt is repeated while the interrupted operation has not yet settled. */
const REPEAT_INTERRUPT_MS = 100;

export type StopReason = "timeout" | "cancelled";

export class RunGuard implements Disposable {
  #why: StopReason | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = () => this.#stop("cancelled");
  readonly #listeners = new Set<() => void>();

  constructor(
    readonly timeoutMs: number,
    signal?: AbortSignal,
  ) {
    this.#timer = setTimeout(() => this.#stop("timeout"), timeoutMs);
    this.#signal = signal;
    if (signal?.aborted) this.#why = "cancelled";
    else signal?.addEventListener("abort", this.#onAbort, { once: true });
  }

  /** Why the run stopped, or undefined while it may go on. */
  get stopped(): StopReason | undefined {
    return this.#why;
  }

  /** Throws ExecutorTimeout or ExecutorCancelled once the run has stopped. */
  check(cause?: unknown): void {
    if (this.#why !== undefined) throw this.error(cause);
  }

  /** The sentinel error for the stop reason (call only once stopped). */
  error(cause?: unknown): ExecutorTimeout | ExecutorCancelled {
    const options = cause === undefined ? undefined : { cause };
    return this.#why === "cancelled"
      ? new ExecutorCancelled(options)
      : new ExecutorTimeout(this.timeoutMs, options);
  }

  /**
   * Runs `operation`; if the run stops meanwhile, calls `interrupt` at once and every 100 ms until the
   * operation settles, then throws the stop error (with the operation's own error as its cause).
   */
  async interruptible<T>(operation: () => Promise<T>, interrupt: () => void): Promise<T> {
    this.check();
    let repeat: NodeJS.Timeout | undefined;
    const fire = () => {
      safely(interrupt);
      repeat ??= setInterval(() => safely(interrupt), REPEAT_INTERRUPT_MS);
    };
    this.#listeners.add(fire);
    try {
      const value = await operation();
      this.check();
      return value;
    } catch (error) {
      this.check(error);
      throw error;
    } finally {
      this.#listeners.delete(fire);
      clearInterval(repeat);
    }
  }

  #stop(why: StopReason): void {
    if (this.#why !== undefined) return;
    this.#why = why;
    for (const fire of this.#listeners) fire();
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}

function safely(f: () => void): void {
  try {
    f();
  } catch {
    // An interrupt is best effort; the operation's own outcome decides what happens next.
  }
}
