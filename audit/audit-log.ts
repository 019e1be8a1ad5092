/**
 * Appending to the audit chain from any number of writers at once (several hub service instances, or a
 * leaf agent's parts). Each record names its position and the hash of the record before it; the server
 * stores it only if the stream's last sequence is still the one the writer built on
 * (`Nats-Expected-Last-Sequence`), so two writers can never both extend the same tail. The loser re-reads
 * the tail and tries again, a bounded number of times.
 *
 * Appends made while one is on its way are sent together, each built on the one before it and published
 * without waiting for its ack: one round trip for a task's steps recorded at once, not one each. Each after
 * the first also expects the one before it to be the stream's last message (`Nats-Expected-Last-Msg-Id`), so
 * a record whose predecessor was refused is refused too, even when another writer's record filled the
 * sequence it expected: the chain never links to a record that was not stored.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { streams, subjects } from "../protocol/index.js";
import { AuditAppendError, AuditContentionError } from "./audit-errors.js";
import {
  AUDIT_GENESIS,
  type AuditEntry,
  type AuditHead,
  auditHash,
  checkAuditEntry,
  encodeAuditRecord,
} from "./audit-record.js";

export interface AuditLogOptions {
  /** The chain's subject token: "hub" on the hub (FED account), the TRE's name on its leaf (CTRL account). */
  scope: string;
  /** Stream holding the chain (see `ensureAuditStream`). Default `streams.audit` ("AUDIT"). */
  stream?: string;
  /**
   * Publish attempts per append before AuditContentionError. Default 64: with a handful of writers an
   * append almost never loses more than a few races, and a stuck writer still fails in bounded time.
   */
  maxAttempts?: number;
  /** How long to wait for the server's ack of one publish, in ms. Default 5 000. */
  ackTimeoutMs?: number;
  /** Longest random pause after a lost race, in ms. Default 20: spreads racing writers without slowing a lone one. */
  maxBackoffMs?: number;
  /** The clock for `at`, ms since the epoch. Default `Date.now`; tests pin it. */
  now?: () => number;
}

/** Where an appended record landed. `hash` is what the next record's `prev` will be. */
export interface AuditAppended {
  seq: number;
  hash: string;
  at: number;
  /** Publishes it took (1 unless other writers won races in between): a contention measure for metrics. */
  attempts: number;
  /** With `once`: the record was appended before under that key, and this is where it stands. */
  duplicate?: boolean;
}

export interface AppendOptions {
  /**
   * A key naming this record (e.g. `release.received.<task>.<tre>`): appended again under the same key within the
   * stream's duplicate window (2 minutes by default), it is not recorded twice — for a step that may be redone
   * after a crash between its effect and its record.
   */
  once?: string;
  /**
   * With `once`: the earliest time (ms since the epoch) another writer may have appended this record, when one may
   * have (a hub taking over a Release another stopped on). The stream is looked through from then for a record under
   * the key before anything is appended: the duplicate window alone misses one stored under a later id of the key
   * once the stream's leader has changed (`OnceIds`). Costs a read of the records since then: for the rare redo.
   */
  since?: number;
}

/** Timeouts and no-responders are retried by the client with the same bytes and `Nats-Msg-Id`, so never stored twice. */
const PUBLISH_RETRIES = 3;

function isWrongLastSequence(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** nats-server's JSStreamWrongLastMsgIDErrF ("wrong last msg ID"), which @nats-io/jetstream names no constant for. */
const STREAM_WRONG_LAST_MSG_ID = 10070;

/** The server refused a chained record: the tail it built on was not the stream's last (sequence or msg id). */
function isRefusedTail(error: unknown): boolean {
  return (
    isWrongLastSequence(error) ||
    (error instanceof JetStreamApiError && error.code === STREAM_WRONG_LAST_MSG_ID)
  );
}

/** The header JetStream deduplicates on; a `once` append's id (`OnceIds`). */
const MSG_ID = "Nats-Msg-Id";

/** Most appends sent together in one go; more wait for the next. */
const MAX_BATCH = 32;

/** An append waiting in a batch, with the promise its caller holds. */
interface Pending {
  entry: AuditEntry;
  resolve(appended: AuditAppended): void;
  reject(error: unknown): void;
}

/** Tries of an id at sequence 0 before a `once` append moves on to the key's next id (`OnceIds`). */
const HELD_AT_ZERO_TRIES = 3;
const HELD_AT_ZERO_PAUSE_MS = 50;

/**
 * The `Nats-Msg-Id`s of one `once` append, `once.<key>`, then `once.<key>.1`, `once.<key>.2`, …
 *
 * A clustered stream's leader holds an id from the moment it takes the publish, before the chain's expected last
 * sequence is checked. When the check refuses the record, nothing is stored, yet the id stays held, and the same id
 * sent again is answered "duplicate" at sequence 0 for the rest of the duplicate window. Believing that answer
 * would lose the record. So an id answered at sequence 0 is not used again once this writer knows its own try of it
 * was refused; otherwise (a try still on its way, or one a writer that stopped made) it is tried again a few times,
 * briefly, first. A writer restarted within the window walks the same ids and finds the record under whichever
 * one stored it, as long as the stream keeps its leader: a new leader does not hold the refused id, and stores a
 * record under it anew. A writer redoing another's step looks through the stream for the key first (`since`).
 */
class OnceIds {
  #n = 0;
  #refused = false;
  #tries = 0;

  constructor(private readonly key: string) {}

  get current(): string {
    return this.#n === 0 ? `once.${this.key}` : `once.${this.key}.${this.#n}`;
  }

  /** The server refused this writer's record under the current id (wrong last sequence). */
  refused(): void {
    this.#refused = true;
  }

  /** The current id was answered "duplicate" at sequence 0: wait a moment, or move on to the next id. */
  async heldAtZero(): Promise<void> {
    if (this.#refused || ++this.#tries >= HELD_AT_ZERO_TRIES) {
      this.#n++;
      this.#refused = false;
      this.#tries = 0;
      return;
    }
    await sleep(HELD_AT_ZERO_PAUSE_MS);
  }
}

/**
 * The write side of one audit chain. Appends from one instance are serialised; appends from several
 * instances (or processes) race safely. Entries carry who, what, when and which task or output, never
 * data values or secrets.
 *
 * @example
 * await ensureAuditStream(jsm, { scope: "hub" });
 * const audit = new AuditLog(jetstream(nc), { scope: "hub" });
 * const { seq, hash } = await audit.append({ actor: "hub-submission-1", action: "task.submitted", taskId });
 */
export class AuditLog {
  readonly stream: string;
  readonly subject: string;
  readonly #js: JetStreamClient;
  readonly #maxAttempts: number;
  readonly #ackTimeoutMs: number;
  readonly #maxBackoffMs: number;
  readonly #now: () => number;
  #jsm: Promise<JetStreamManager> | undefined;
  /** The tail this instance last wrote or read; a guess that the server confirms or refutes on publish. */
  #tail: AuditHead | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  /** The appends that will go out together once the one on its way is done; joined until it starts. */
  #open: Pending[] | undefined;

  constructor(js: JetStreamClient, options: AuditLogOptions) {
    this.#js = js;
    this.stream = options.stream ?? streams.audit;
    this.subject = subjects.audit(options.scope);
    this.#maxAttempts = options.maxAttempts ?? 64;
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 5_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 20;
    this.#now = options.now ?? Date.now;
    if (!Number.isSafeInteger(this.#maxAttempts) || this.#maxAttempts < 1) {
      throw new RangeError(`maxAttempts must be a positive integer, got ${this.#maxAttempts}`);
    }
  }

  /**
   * Appends one entry and returns the record's position and hash. Rejects with AuditEntryError (bad
   * entry, nothing written), AuditContentionError (lost `maxAttempts` races) or AuditAppendError.
   */
  append(entry: AuditEntry, options: AppendOptions = {}): Promise<AuditAppended> {
    let checked: AuditEntry;
    try {
      checked = checkAuditEntry(entry);
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.once !== undefined) {
      const { once, since } = options;
      const run = this.#queue.then(
        async () =>
          (since === undefined ? undefined : await this.#appendedUnder(once, since)) ??
          this.#append(checked, once),
      );
      this.#queue = run.catch(() => undefined);
      return run;
    }
    return new Promise<AuditAppended>((resolve, reject) => {
      const pending = { entry: checked, resolve, reject };
      if (this.#open !== undefined && this.#open.length < MAX_BATCH) {
        this.#open.push(pending);
        return;
      }
      const batch = [pending];
      this.#open = batch;
      this.#queue = this.#queue.then(() => {
        if (this.#open === batch) this.#open = undefined;
        return this.#appendBatch(batch);
      });
    });
  }

  /** Reads the chain's current end from the server, e.g. to keep an external anchor for `verifyAuditLog`. */
  async readHead(): Promise<AuditHead> {
    try {
      const jsm = await this.#manager();
      // A few rounds suffice: each one that finds no record but a non-empty stream raced an append.
      for (let round = 0; round < 5; round++) {
        const last = await jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
        if (last !== null) return { seq: last.seq, hash: auditHash(last.data) };
        // Empty, or every record aged out: the next record follows the stream's last sequence all the same.
        // Only while it still holds no record, though: one appended between the two reads has a hash to link to.
        const { state } = await jsm.streams.info(this.stream);
        if (state.messages === 0) return { seq: state.last_seq, hash: AUDIT_GENESIS };
      }
      throw new Error(`the stream holds records, but none on ${this.subject}`);
    } catch (error) {
      this.#jsm = undefined;
      throw new AuditAppendError(this.stream, "could not read the chain's tail", {
        cause: error,
        code: error instanceof JetStreamApiError ? error.code : undefined,
      });
    }
  }

  /** The record stored under one of `key`'s ids (`OnceIds`) at or after `since`, found in the stream; or undefined. */
  async #appendedUnder(key: string, since: number): Promise<AuditAppended | undefined> {
    const consumer = await this.#js.consumers.getPushConsumer(this.stream, {
      filter_subjects: [this.subject],
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(since).toISOString(),
    });
    // The records stored since then when the consumer was made: what it delivers first.
    const { num_pending: total } = await consumer.info(true);
    if (total === 0) {
      await consumer.delete().catch(() => undefined);
      return undefined;
    }
    const base = `once.${key}`;
    const isKeys = (id: string | undefined) =>
      id === base || (id?.startsWith(`${base}.`) === true && /^[0-9]+$/.test(id.slice(base.length + 1)));
    let seen = 0;
    const messages = await consumer.consume();
    try {
      for await (const m of messages) {
        if (isKeys(m.headers?.get(MSG_ID))) {
          const at = Math.floor(m.info.timestampNanos / 1e6);
          return { seq: m.seq, hash: auditHash(m.data), at, attempts: 0, duplicate: true };
        }
        if (++seen >= total) break;
      }
    } finally {
      messages.stop();
    }
    return undefined;
  }

  async #append(entry: AuditEntry, once: string | undefined): Promise<AuditAppended> {
    const ids = once === undefined ? undefined : new OnceIds(once);
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      const tail = this.#tail ?? (await this.readHead());
      const record = { seq: tail.seq + 1, prev: tail.hash, at: Math.floor(this.#now()) };
      const bytes = encodeAuditRecord(record, entry);
      const msgID = ids?.current ?? randomUUID();
      try {
        const ack = await this.#js.publish(this.subject, bytes, {
          msgID,
          expect: { streamName: this.stream, lastSequence: tail.seq },
          timeout: this.#ackTimeoutMs,
          retries: PUBLISH_RETRIES,
        });
        if (ack.duplicate && ids !== undefined) {
          this.#tail = undefined;
          if (ack.seq === 0) {
            // The id is held, but nothing is stored under it (see `OnceIds`): try again, perhaps under the next.
            await ids.heldAtZero();
            continue;
          }
          // Recorded before under this key: nothing appended now, and the tail is whatever it is.
          const stored = await (await this.#manager()).streams.getMessage(this.stream, { seq: ack.seq });
          const hash = stored ? auditHash(stored.data) : "";
          return { seq: ack.seq, hash, at: record.at, attempts: attempt, duplicate: true };
        }
        if (ack.seq !== record.seq) {
          this.#tail = undefined;
          throw new AuditAppendError(this.stream, `record ${record.seq} was stored at ${ack.seq}`);
        }
        const appended = { seq: ack.seq, hash: auditHash(bytes), at: record.at, attempts: attempt };
        this.#tail = { seq: appended.seq, hash: appended.hash };
        return appended;
      } catch (error) {
        this.#tail = undefined;
        if (error instanceof AuditAppendError) throw error;
        if (!isWrongLastSequence(error)) {
          throw new AuditAppendError(this.stream, `could not append record ${record.seq}`, {
            cause: error,
            code: error instanceof JetStreamApiError ? error.code : undefined,
          });
        }
        ids?.refused();
        if (attempt === this.#maxAttempts)
          throw new AuditContentionError(this.stream, attempt, { cause: error });
        await sleep(Math.random() * Math.min(this.#maxBackoffMs, 2 ** attempt));
      }
    }
    throw new AuditContentionError(this.stream, this.#maxAttempts);
  }

  /**
   * Appends a batch in order, all published at once, each built on the one before. Settles every append: those
   * stored resolve; one whose predecessor's tail turned out stale (another writer came first) goes round again
   * with the rest on a fresh tail; any other failure rejects that append alone (its record may or may not be
   * stored, as for a lone append whose ack is lost).
   */
  async #appendBatch(batch: readonly Pending[]): Promise<void> {
    let waiting = batch;
    for (let attempt = 1; waiting.length > 0; attempt++) {
      let tail: AuditHead;
      try {
        tail = this.#tail ?? (await this.readHead());
      } catch (error) {
        for (const p of waiting) p.reject(error);
        return;
      }
      const sent = this.#publishChained(tail, waiting);
      const settled = await Promise.allSettled(sent.map((s) => s.ack));
      const again: Pending[] = [];
      let lastStored: AuditHead | undefined;
      let broken = false;
      settled.forEach((result, i) => {
        const { pending, record, bytes } = sent[i]!;
        if (result.status === "fulfilled" && result.value.seq === record.seq) {
          lastStored = { seq: record.seq, hash: auditHash(bytes) };
          pending.resolve({ ...lastStored, at: record.at, attempts: attempt });
          return;
        }
        broken = true;
        if (result.status === "fulfilled") {
          pending.reject(
            new AuditAppendError(this.stream, `record ${record.seq} was stored at ${result.value.seq}`),
          );
        } else if (isRefusedTail(result.reason)) {
          again.push(pending);
        } else {
          pending.reject(
            new AuditAppendError(this.stream, `could not append record ${record.seq}`, {
              cause: result.reason,
              code: result.reason instanceof JetStreamApiError ? result.reason.code : undefined,
            }),
          );
        }
      });
      // Only a batch stored whole leaves a tail this writer is sure of.
      this.#tail = broken ? undefined : lastStored;
      waiting = again;
      if (waiting.length === 0) return;
      if (attempt === this.#maxAttempts) {
        for (const p of waiting) p.reject(new AuditContentionError(this.stream, attempt));
        return;
      }
      await sleep(Math.random() * Math.min(this.#maxBackoffMs, 2 ** attempt));
    }
  }

  /** Publishes `batch` on `tail` without waiting: each record links to the one before it and expects it stored. */
  #publishChained(tail: AuditHead, batch: readonly Pending[]) {
    const at = Math.floor(this.#now());
    let prev = tail;
    let prevId: string | undefined;
    return batch.map((pending) => {
      const record = { seq: prev.seq + 1, prev: prev.hash, at };
      const bytes = encodeAuditRecord(record, pending.entry);
      const msgID = randomUUID();
      const ack = this.#js.publish(this.subject, bytes, {
        msgID,
        expect: {
          streamName: this.stream,
          lastSequence: prev.seq,
          ...(prevId === undefined ? {} : { lastMsgID: prevId }),
        },
        timeout: this.#ackTimeoutMs,
        retries: PUBLISH_RETRIES,
      });
      prev = { seq: record.seq, hash: auditHash(bytes) };
      prevId = msgID;
      return { pending, record, bytes, ack };
    });
  }

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= this.#js.jetstreamManager(false);
    return this.#jsm;
  }
}
