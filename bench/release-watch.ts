/**
 * A push notification of stored Releases, for the benchmarks. The hub's status tracker stores each TRE's
 * verified Release in the RELEASES bucket (key `<taskId>.<tre>`), which is exactly what a researcher's
 * `fetchReleases` reads; a watch on that bucket says the moment one lands.
 *
 * A researcher's connection may only call the hub's services and read its own inbox: `tremesh watch` and
 * `submit --wait` hold a query open that the hub answers when the task moves on (`followTask`). The watch stands in
 * for that answer here, so that the latency measured is the federation's and not a query's round trip. It runs on a
 * FED-account (admin) connection.
 */
import { jetstream } from "@nats-io/jetstream";
import { Kvm, KvWatchInclude } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { RELEASE_BUCKET } from "../hub/status-tracker.js";

interface Waiter {
  count: number;
  resolve: (at: number) => void;
  timer: NodeJS.Timeout;
}

export class ReleaseWatch {
  /** TREs whose Release of a task is stored, for tasks somebody may still wait on. */
  readonly #stored = new Map<string, Set<string>>();
  readonly #waiters = new Map<string, Waiter>();
  #listener: ((taskId: string, tre: string, at: number) => void) | undefined;

  private constructor(readonly stop: () => Promise<void>) {}

  /** Starts watching new Releases (none stored before the call is reported). */
  static async start(nc: NatsConnection): Promise<ReleaseWatch> {
    const kv = await new Kvm(jetstream(nc)).open(RELEASE_BUCKET);
    const entries = await kv.watch({ key: ">", include: KvWatchInclude.UpdatesOnly });
    const watch = new ReleaseWatch(async () => entries.stop());
    void (async () => {
      for await (const e of entries) if (e.operation === "PUT") watch.#arrived(e.key, performance.now());
    })();
    return watch;
  }

  /** Calls `listener` for every Release stored from now on (`at` from `performance.now()`). */
  onRelease(listener: (taskId: string, tre: string, at: number) => void): void {
    this.#listener = listener;
  }

  /**
   * Resolves with the `performance.now()` at which `count` TREs' Releases of the task were all stored; rejects
   * after `timeoutMs` (a TRE that refused or failed the task never releases it).
   */
  all(taskId: string, count: number, timeoutMs = 60_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const stored = this.#stored.get(taskId)?.size ?? 0;
        this.forget(taskId);
        reject(new Error(`task ${taskId}: ${stored} of ${count} Releases stored after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(taskId, { count, resolve, timer });
      this.#settle(taskId, performance.now());
    });
  }

  /** Forgets a task nobody waits on (a throughput run that counts arrivals only). */
  forget(taskId: string): void {
    this.#stored.delete(taskId);
    this.#waiters.delete(taskId);
  }

  #arrived(key: string, at: number): void {
    const dot = key.indexOf(".");
    const taskId = key.slice(0, dot);
    const tre = key.slice(dot + 1);
    const tres = this.#stored.get(taskId) ?? new Set<string>();
    this.#stored.set(taskId, tres.add(tre));
    this.#listener?.(taskId, tre, at);
    this.#settle(taskId, at);
  }

  #settle(taskId: string, at: number): void {
    const waiter = this.#waiters.get(taskId);
    if (!waiter || (this.#stored.get(taskId)?.size ?? 0) < waiter.count) return;
    clearTimeout(waiter.timer);
    this.forget(taskId);
    waiter.resolve(at);
  }
}
