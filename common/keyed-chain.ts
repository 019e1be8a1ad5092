/**
 * Work that must not overlap per key: each `run` for a key starts once the one before it for that key has
 * settled (in the order `run` was called), while runs for different keys go at once. Nothing is kept for a key
 * once its last run settles.
 *
 * @example
 * const chain = new KeyedChain();
 * void chain.run(taskId, () => applyEvent(first));
 * await chain.run(taskId, () => applyEvent(second)); // after the first, whether it failed or not
 */
export class KeyedChain {
  readonly #last = new Map<string, Promise<void>>();

  /** Runs `work` after the key's earlier runs (always on a later tick); resolves or rejects as `work` does. */
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const start = () => work();
    const done = (this.#last.get(key) ?? Promise.resolve()).then(start, start);
    const settled = done.then(
      () => undefined,
      () => undefined,
    );
    this.#last.set(key, settled);
    void settled.then(() => {
      if (this.#last.get(key) === settled) this.#last.delete(key);
    });
    return done;
  }

  /** Keys with a run not yet settled. */
  get size(): number {
    return this.#last.size;
  }
}
