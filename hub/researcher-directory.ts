/**
 * The researchers the hub trusts, kept live from the registry: a KV watch adds new researchers and
 * drops revoked or deleted ones at once, so a revocation takes effect on the next submission with no
 * restart.
 */
import { KvWatchInclude } from "@nats-io/kv";
import { TrustStore } from "../protocol/index.js";
import { type Registry, RegistryError, type Researcher } from "./registry.js";

export class ResearcherDirectory {
  readonly trust = new TrustStore();
  readonly #byKey = new Map<string, Researcher>();
  readonly #byName = new Map<string, Researcher>();
  /** Revoked researchers by signing key: not trusted, but their refusal says revoked rather than unknown. */
  readonly #revoked = new Map<string, Researcher>();
  #stop: (() => void) | undefined;

  /** Loads every researcher, then follows changes until `close()`. */
  static async watch(
    registry: Registry,
    onError: (e: Error) => void = () => {},
  ): Promise<ResearcherDirectory> {
    const dir = new ResearcherDirectory();
    // Watch first, then load: a change made between the two is applied twice, which is harmless.
    const watcher = await registry.kv.watch({ key: "researcher.>", include: KvWatchInclude.UpdatesOnly });
    dir.#stop = () => watcher.stop();
    void (async () => {
      for await (const e of watcher) {
        const name = e.key.slice("researcher.".length);
        try {
          const r = e.operation === "PUT" ? await registry.researcher(name) : undefined;
          if (r) dir.#set(r);
          else dir.#remove(name);
        } catch (err) {
          dir.#remove(name); // a researcher whose entry no longer reads cleanly is not trusted
          onError(err instanceof Error ? err : new RegistryError(String(err)));
        }
      }
    })();
    for (const r of await registry.researchers()) dir.#set(r);
    return dir;
  }

  byKey(publicKey: string): Researcher | undefined {
    return this.#byKey.get(publicKey);
  }

  /** The researcher whose signing key this was, when they are revoked. */
  revokedKey(publicKey: string): Researcher | undefined {
    return this.#revoked.get(publicKey);
  }

  close(): void {
    this.#stop?.();
  }

  #set(r: Researcher): void {
    this.#remove(r.name);
    if (r.revoked !== undefined) {
      this.#revoked.set(r.publicKey, r);
      return;
    }
    this.#revoked.delete(r.publicKey);
    this.#byKey.set(r.publicKey, r);
    this.#byName.set(r.name, r);
    this.trust.add({ publicKey: r.publicKey, role: "researcher", name: r.name });
  }

  #remove(name: string): void {
    const old = this.#byName.get(name);
    if (!old) return;
    this.#byName.delete(name);
    this.#byKey.delete(old.publicKey);
    this.trust.remove(old.publicKey);
  }
}
