/**
 * Remembers message ids until they expire, so a captured message cannot be played again.
 * Memory is bounded by (message rate × maximum lifetime); receivers that must remember across
 * restarts back this with JetStream KV instead.
 */
export interface ReplayGuard {
  /** Records `id` (valid until `exp`) and returns true, or returns false if it was already seen. */
  firstSight(id: string, exp: number, now: number): boolean;
}

export class MemoryReplayGuard implements ReplayGuard {
  readonly #seen = new Map<string, number>();
  #nextPruneAt = 0;

  /** @param pruneEveryMs how often expired ids are swept out (default 60 s). */
  constructor(private readonly pruneEveryMs = 60_000) {}

  firstSight(id: string, exp: number, now: number): boolean {
    if (now >= this.#nextPruneAt) this.#prune(now);
    const known = this.#seen.get(id);
    if (known !== undefined && known > now) return false;
    this.#seen.set(id, exp);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #prune(now: number): void {
    for (const [id, exp] of this.#seen) if (exp <= now) this.#seen.delete(id);
    this.#nextPruneAt = now + this.pruneEveryMs;
  }
}
