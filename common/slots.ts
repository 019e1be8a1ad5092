/**
 * A counting semaphore: at most `size` holders at once; the rest wait, and are let in in the order they came.
 *
 * @example
 * const slots = new Slots(2);
 * await slots.run(() => execute(task)); // at most two at once
 */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new RangeError(`slots: size must be a whole number ≥ 1, not ${size}`);
    this.#free = size;
  }

  /** Holders now. */
  get inUse(): number {
    return this.size - this.#free;
  }

  /** Resolves when a slot is free and taken; give it back with `release`. */
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  /** Takes a slot if one is free now and nobody waits for one; false otherwise. Give it back with `release`. */
  tryAcquire(): boolean {
    if (this.#free === 0 || this.#waiting.length > 0) return false;
    this.#free--;
    return true;
  }

  /** Gives a slot back: to the longest waiter, if any. */
  release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }

  /** Runs `fn` in a slot, giving it back however `fn` ends. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
