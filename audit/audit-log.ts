/**
 * Appending to the audit chain from any number of writers at once (several hub service instances, or a
 * leaf agent's parts). Each record names its position and the hash of the record before it; the server
 * stores it only if the stream's last sequence is still the one the writer built on
 * (`Nats-Expected-Last-Sequence`), so two writers can never both extend the same tail. The loser re-reads
 * the tail and tries again, a bounded number of times.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import {
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
 * one stored it.
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
    const run = this.#queue.then(() => this.#append(checked, options.once));
    this.#queue = run.catch(() => undefined);
    return run;
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

  #manager(): Promise<JetStreamManager> {
    this.#jsm ??= this.#js.jetstreamManager(false);
    return this.#jsm;
  }
}
