/**
 * Which TREs are online, from their signed heartbeats. Heartbeats are core NATS (liveness, not
 * history): FED imports every TRE's, this tracker verifies each (the TRE's key, bound to the TRE of
 * the subject) and keeps the newest per TRE in a KV bucket, so every hub instance and every reader
 * sees the same answer. A TRE is online while its last heartbeat is younger than `offlineAfterMs`.
 * A refused heartbeat goes to the dead letters with its reason, and to the audit log, like any refused message.
 *
 * A TRE that signs with a key the federation did not register for it (its leaf.yaml names another seed than the one
 * given to `tremesh admin add-tre`) has every heartbeat, status event and Release refused, and its tasks wait for
 * ever. Its heartbeats say so: one on the TRE's own subject (only that TRE's account can send there, account-flows.ts)
 * that is a well-formed heartbeat of that TRE whose signature verifies with the key it names is kept as the TRE's
 * unregistered key, until a heartbeat with its registered key comes after it. Nothing of its content is trusted or
 * kept but that key; `tremesh tres` and the researcher's view of the TRE's unfinished tasks show it
 * (researcher-api.ts).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, KvWatchInclude } from "@nats-io/kv";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  type AuditSink,
  asError,
  openBucket,
  type PeerState,
  type Refuser,
  refuseMessage,
} from "../common/index.js";
import {
  DeadLetterCode,
  MAX_HEARTBEAT_LIFETIME_MS,
  MemoryReplayGuard,
  openEnvelope,
  parseTreSubject,
  peekEnvelope,
  type Refusal,
  refusal,
  refusalOf,
  subjects,
  type TreLiveness,
  TrustStore,
  type UnregisteredKey,
} from "../protocol/index.js";
import { HUB_DEFAULTS } from "./hub-defaults.js";

/**
 * Bucket in FED: key = TRE name, value = the last verified heartbeat's facts (JSON); key `unregistered.<TRE name>`,
 * the key its last heartbeat refused for an unregistered signer verified with (`UnregisteredKey`).
 */
export const LIVENESS_BUCKET = "TRE_LIVENESS";

export interface LivenessTrackerOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  /** The TREs' public keys (role `tre`, bound to their TRE). Read on every heartbeat, so it may change. */
  treTrust: TrustStore;
  /**
   * The member TREs now, with their signing keys: `list()` reports exactly these (one never heard from as
   * offline; a TRE that left is not listed). Called on every `list()`, so TREs may join and leave.
   */
  tres: () => readonly { name: string; publicKey: string }[];
  /**
   * How long after its last heartbeat a TRE counts as offline, in ms. Default 30 000: three missed beats at the
   * agent's default 10 s interval, so one late beat does not flap it.
   */
  offlineAfterMs?: number;
  /** Queue group shared by every hub instance. Default "tremesh-liveness". */
  queueGroup?: string;
  /** Where refused heartbeats are recorded, beside their dead letters. */
  audit: AuditSink;
  onEvent?: (e: LivenessEvent) => void;
  now?: () => number;
}

export type LivenessEvent =
  | { type: "online"; tre: string }
  | { type: "refused"; subject: string; code: string; reason: string }
  | { type: "error"; error: Error };

/** The bucket's key for the unregistered key TRE `tre` signs with (TRE names have no dots). */
const unregisteredEntry = (tre: string) => `unregistered.${tre}`;

interface Beat {
  /** When this hub verified it (the hub's clock decides online/offline). */
  lastSeen: number;
  /** The beat's own issued-at (the TRE's clock), to order beats. */
  iat: number;
  seq: number;
  running: number;
  agentVersion: string;
}

export class LivenessTracker {
  readonly #sub: Subscription;
  readonly #replay = new MemoryReplayGuard();
  readonly #refuser: Refuser;
  /**
   * The bucket's unregistered-key entries, followed by a watch (every hub instance's refusals): a task view asks for
   * every unfinished child's TRE, and reads the bucket only for a TRE found here.
   */
  readonly #unregisteredSeen = new Map<string, UnregisteredKey>();
  #stopWatch: () => void = () => {};

  private constructor(
    private readonly opts: LivenessTrackerOptions,
    private readonly kv: KV,
  ) {
    this.#refuser = {
      js: opts.js,
      scope: "hub",
      actor: "hub",
      audit: opts.audit,
      onRefused: (e) => opts.onEvent?.(e),
    };
    this.#sub = opts.nc.subscribe(subjects.allHeartbeats, {
      queue: opts.queueGroup ?? "tremesh-liveness",
      callback: (_e, msg) => void this.#handle(msg),
    });
  }

  static async start(opts: LivenessTrackerOptions): Promise<LivenessTracker> {
    const kv = await openBucket(opts.js, LIVENESS_BUCKET, { history: 1 });
    const tracker = new LivenessTracker(opts, kv);
    await tracker.#followUnregistered();
    await opts.nc.flush();
    return tracker;
  }

  async stop(): Promise<void> {
    this.#stopWatch();
    await this.#sub.drain();
  }

  /** Watches the unregistered-key entries, then loads the ones there now (a change between the two applies twice). */
  async #followUnregistered(): Promise<void> {
    const prefix = unregisteredEntry("");
    const apply = (key: string, seen: UnregisteredKey | undefined) => {
      const tre = key.slice(prefix.length);
      if (seen) this.#unregisteredSeen.set(tre, seen);
      else this.#unregisteredSeen.delete(tre);
    };
    const watcher = await this.kv.watch({ key: `${prefix}>`, include: KvWatchInclude.UpdatesOnly });
    this.#stopWatch = () => watcher.stop();
    void (async () => {
      for await (const e of watcher)
        apply(e.key, e.operation === "PUT" ? (e.json() as UnregisteredKey) : undefined);
    })();
    for await (const key of await this.kv.keys(`${prefix}>`)) {
      const e = await this.kv.get(key);
      apply(key, e?.operation === "PUT" ? (e.json() as UnregisteredKey) : undefined);
    }
  }

  /**
   * The TRE as the far side of its results source (`SourceRestarts`): reachable while online, last seen at its
   * newest heartbeat, which crossed its leaf link.
   */
  async peer(tre: string): Promise<PeerState> {
    const beat = await this.#lastBeat(tre);
    return beat ? { up: this.#online(beat), since: beat.lastSeen } : { up: false };
  }

  /** Every member TRE with its online flag and last heartbeat, and the unregistered key it signs with, if it does. */
  async list(): Promise<TreLiveness[]> {
    const out: TreLiveness[] = [];
    for (const { name: tre, publicKey } of this.opts.tres()) {
      const beat = await this.#lastBeat(tre);
      const unregistered = await this.#unregistered(tre, publicKey, beat);
      out.push({
        ...(beat
          ? {
              tre,
              online: this.#online(beat),
              lastSeen: beat.lastSeen,
              running: beat.running,
              agentVersion: beat.agentVersion,
              publicKey,
            }
          : { tre, online: false, publicKey }),
        ...(unregistered ? { unregisteredKey: unregistered } : {}),
      });
    }
    return out;
  }

  /**
   * The key a member TRE signs with that the federation did not register for it: undefined unless its newest
   * heartbeat was refused for it (any verified since, or a registered key that is now that one, clears it).
   */
  async unregisteredKey(tre: string): Promise<UnregisteredKey | undefined> {
    if (!this.#unregisteredSeen.has(tre)) return undefined;
    const member = this.opts.tres().find((t) => t.name === tre);
    if (!member) return undefined;
    return this.#unregistered(tre, member.publicKey, await this.#lastBeat(tre));
  }

  async #unregistered(
    tre: string,
    registered: string,
    beat: Beat | undefined,
  ): Promise<UnregisteredKey | undefined> {
    const seen = this.#unregisteredSeen.get(tre);
    if (seen === undefined) return undefined;
    if (seen.publicKey === registered || (beat && beat.lastSeen >= seen.lastSeen)) return undefined;
    return seen;
  }

  async #lastBeat(tre: string): Promise<Beat | undefined> {
    const e = await this.kv.get(tre);
    return e?.operation === "PUT" ? (e.json() as Beat) : undefined;
  }

  /**
   * A heartbeat on member TRE `tre`'s subject by a signer the hub does not trust: kept as the TRE's unregistered key
   * when it is a well-formed, current heartbeat of that TRE whose signature verifies with the key it names.
   */
  async #noteUnregistered(data: Uint8Array, tre: string): Promise<void> {
    const signer = peekEnvelope(data)?.signer;
    if (signer === undefined || !this.opts.tres().some((t) => t.name === tre)) return;
    let trust: TrustStore;
    try {
      trust = new TrustStore().add({
        publicKey: signer,
        role: "tre",
        name: `unregistered key of tre:${tre}`,
        tre,
      });
    } catch {
      return; // not an nkey public key
    }
    const now = (this.opts.now ?? Date.now)();
    const opened = openEnvelope(data, {
      trust,
      expect: "heartbeat",
      now,
      maxLifetimeMs: MAX_HEARTBEAT_LIFETIME_MS,
    });
    if (!opened.ok) return;
    const seen: UnregisteredKey = { publicKey: signer, lastSeen: now };
    await this.kv.put(unregisteredEntry(tre), JSON.stringify(seen));
  }

  /** Online while the last heartbeat is younger than `offlineAfterMs`, by this hub's clock. */
  #online(beat: Beat): boolean {
    return (
      (this.opts.now ?? Date.now)() - beat.lastSeen <
      (this.opts.offlineAfterMs ?? HUB_DEFAULTS.offlineAfterMs)
    );
  }

  async #handle(msg: Msg): Promise<void> {
    try {
      const refused = await this.#apply(msg);
      if (refused) await refuseMessage(this.#refuser, { subject: msg.subject, data: msg.data }, refused);
    } catch (e) {
      this.opts.onEvent?.({ type: "error", error: asError(e) });
    }
  }

  /** Keeps a verified heartbeat; returns the refusal of any other message. */
  async #apply(msg: Msg): Promise<Refusal | undefined> {
    const where = parseTreSubject(msg.subject);
    if (where?.kind !== "heartbeat") return refusal(DeadLetterCode.wrongSubject, "not a heartbeat subject");
    const opened = openEnvelope(msg.data, {
      trust: this.opts.treTrust,
      expect: "heartbeat",
      tre: where.tre,
      replay: this.#replay,
      // Its id is kept until it expires: no longer than an honest TRE's slowest beat lives.
      maxLifetimeMs: MAX_HEARTBEAT_LIFETIME_MS,
    });
    if (!opened.ok) {
      if (opened.error.code === DeadLetterCode.unknownSigner)
        await this.#noteUnregistered(msg.data, where.tre);
      return refusalOf(opened.error);
    }
    const hb = opened.value.body;
    const beat: Beat = {
      lastSeen: (this.opts.now ?? Date.now)(),
      iat: hb.iat,
      seq: hb.seq,
      running: hb.running,
      agentVersion: hb.agentVersion,
    };
    // Keep the newest: a delayed beat must not move lastSeen back.
    for (let attempt = 0; attempt < 5; attempt++) {
      const e = await this.kv.get(hb.tre);
      if (e?.operation === "PUT") {
        if ((e.json() as Beat).iat >= beat.iat) return undefined;
        try {
          await this.kv.update(hb.tre, JSON.stringify(beat), e.revision);
          return undefined;
        } catch {
          continue;
        }
      }
      try {
        await this.kv.create(hb.tre, JSON.stringify(beat));
        this.opts.onEvent?.({ type: "online", tre: hb.tre });
        return undefined;
      } catch {
        // created concurrently: read again
      }
    }
    return undefined;
  }
}
