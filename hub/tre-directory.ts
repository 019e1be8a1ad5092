/**
 * The member TREs the hub works with, and the trust store every hub service verifies their messages with
 * (status events, releases, heartbeats). In config mode the list is hub.yaml's and never changes; in operator
 * mode it follows the registry's `tre.<name>` entries through a KV watch, so a TRE onboarded or revoked while
 * the hub runs is trusted, or no longer trusted, at once and without a restart.
 *
 * @example
 * const tres = await TreDirectory.watch(registry, (error, tre) => log.warn({ tre, error }));
 * tres.onChange(() => void services.syncTres());
 * openEnvelope(bytes, { trust: tres.trust, expect: "status", tre: "a" });
 */
import { KvWatchInclude } from "@nats-io/kv";
import { TrustStore } from "../protocol/index.js";
import { type Registry, RegistryError, type TreEntry } from "./registry.js";

/** One member TRE. */
export interface TreMember {
  name: string;
  /** The TRE's message-signing key (U…), made inside the TRE. */
  publicKey: string;
  /** The TRE's account on the hub (A…), in operator mode; config mode's accounts are named, not keyed. */
  account?: string;
}

export type TreDirectoryChange =
  | { type: "added"; tre: TreMember }
  | { type: "updated"; tre: TreMember; previous: TreMember }
  | { type: "removed"; tre: TreMember };

export class TreDirectory {
  /** TRE principals (role `tre`, name `tre:<name>`, bound to their TRE): live, shared by every service. */
  readonly trust = new TrustStore();
  readonly #members = new Map<string, TreMember>();
  readonly #listeners = new Set<(change: TreDirectoryChange) => void>();
  #stop: (() => void) | undefined;

  private constructor() {}

  /**
   * A list that never changes (config mode). Throws on a TRE listed twice or a key shared by two TREs, as a
   * trust store must never hold one key for two principals.
   */
  static fixed(tres: readonly TreMember[]): TreDirectory {
    const dir = new TreDirectory();
    for (const t of tres) {
      if (dir.#members.has(t.name)) throw new RangeError(`TRE ${JSON.stringify(t.name)} appears twice`);
      dir.#add(t);
    }
    return dir;
  }

  /**
   * The registry's active TREs, loaded now and followed until `close()`. An entry that is revoked, deleted or no
   * longer reads cleanly leaves the set; `onError` hears of entries it could not take (the TRE is named).
   */
  static async watch(
    registry: Registry,
    onError: (error: Error, tre: string) => void = () => {},
  ): Promise<TreDirectory> {
    const dir = new TreDirectory();
    const apply = async (name: string, operation: string) => {
      try {
        dir.#apply(name, operation === "PUT" ? await registry.tre(name) : undefined);
      } catch (err) {
        dir.#apply(name, undefined); // a TRE whose entry no longer reads cleanly is not trusted
        onError(err instanceof Error ? err : new RegistryError(String(err)), name);
      }
    };
    // Watch first, then load: a change made between the two is applied twice, which is harmless.
    const watcher = await registry.kv.watch({ key: "tre.>", include: KvWatchInclude.UpdatesOnly });
    dir.#stop = () => watcher.stop();
    void (async () => {
      for await (const e of watcher) await apply(e.key.slice("tre.".length), e.operation);
    })();
    for await (const key of await registry.kv.keys("tre.>")) await apply(key.slice("tre.".length), "PUT");
    return dir;
  }

  /** The current members, in the order they joined (a fixed list: its own order). */
  list(): TreMember[] {
    return [...this.#members.values()].map((t) => ({ ...t }));
  }

  get(name: string): TreMember | undefined {
    return this.#members.get(name);
  }

  /** Calls `listener` after each change to the set (trust already updated). Returns the unsubscribe. */
  onChange(listener: (change: TreDirectoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Stops following the registry (nothing to stop for a fixed list). The set stays as it was. */
  close(): void {
    this.#stop?.();
    this.#stop = undefined;
  }

  #apply(name: string, entry: TreEntry | undefined): void {
    const previous = this.#members.get(name);
    const next: TreMember | undefined =
      entry === undefined || entry.revoked !== undefined
        ? undefined
        : { name: entry.name, publicKey: entry.publicKey, account: entry.account };
    if (previous && next && previous.publicKey === next.publicKey && previous.account === next.account)
      return;
    if (previous) this.#remove(previous);
    let added: TreMember | undefined;
    try {
      if (next) {
        this.#add(next);
        added = next;
      }
    } finally {
      // Listeners hear what happened even when the new entry was refused (then: the old one left).
      const change: TreDirectoryChange | undefined =
        previous && added
          ? { type: "updated", tre: added, previous }
          : added
            ? { type: "added", tre: added }
            : previous
              ? { type: "removed", tre: previous }
              : undefined;
      if (change) for (const listener of this.#listeners) listener(change);
    }
  }

  #add(t: TreMember): void {
    // Throws for a key already trusted as another principal: the caller decides (fixed: refuse; watch: report).
    this.trust.add({ publicKey: t.publicKey, role: "tre", name: `tre:${t.name}`, tre: t.name });
    this.#members.set(t.name, { ...t });
  }

  #remove(t: TreMember): void {
    this.#members.delete(t.name);
    this.trust.remove(t.publicKey);
  }
}
