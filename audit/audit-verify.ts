/**
 * Verifying an audit chain: every record, in stream order, checked for encoding, fields, position and the hash link
 * to the record before. A broken chain is a result, never an exception; only failing to read the log throws.
 *
 * Records are read through one ordered consumer (batched pulls, no per-record request), or, from a stream that
 * allows direct gets (a TRE's own log, `ensureAuditStream`'s `directReads`), by sequence with direct gets, many at
 * once: those need no consumer, so a TRE's reviewers verify its log with read-only permissions that cannot make,
 * or delete, consumers on it.
 */
import {
  type Consumer,
  type ConsumerMessages,
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  type StreamInfo,
} from "@nats-io/jetstream";
import { streams } from "../protocol/index.js";
import { AuditBreak, AuditReadError } from "./audit-errors.js";
import { AUDIT_GENESIS, type AuditHead, auditHash, decodeAuditRecord } from "./audit-record.js";

export interface VerifyAuditLogOptions {
  /** Stream holding the chain. Default `streams.audit` ("AUDIT"). */
  stream?: string;
  /**
   * A head kept from an earlier verification or `AuditLog.readHead()`, outside this stream. The chain must
   * still hold that record at that position: this catches a stream deleted and rebuilt, or cut short,
   * which no check inside the stream can see. Default none.
   */
  anchor?: AuditHead;
  /**
   * Accept a chain whose oldest records are gone, if the stream has an age limit (then the first kept
   * record's `prev` cannot be checked). Default false: the default stream keeps records for ever, and
   * anyone allowed to update the stream could otherwise add an age limit to erase history quietly.
   */
  allowAgedStart?: boolean;
  /** Records per pull request. Default 500: few round trips for thousands of records, bounded memory. */
  batchSize?: number;
  /** Longest wait for the next record before giving up with AuditReadError, in ms. Default 10 000. */
  idleTimeoutMs?: number;
  /**
   * Longest wait for the first record, in ms. Default 30 000: on a clustered stream the reading consumer is made
   * on the stream's leader, and on a busy cluster (or one electing a leader) that can take longer than a record
   * once flowing ever does.
   */
  startTimeoutMs?: number;
}

/**
 * The outcome. `ok`: `count` records from `firstSeq` (1 unless `allowAgedStart` accepted aged-out ones) link up to
 * `head`. Otherwise `firstBrokenSeq` is the position of the first record that does not, and `count` the
 * records before it that did.
 */
export type AuditVerification =
  | { ok: true; count: number; firstSeq: number; head: AuditHead }
  | { ok: false; firstBrokenSeq: number; reason: AuditBreak; message: string; count: number };

function broken(
  firstBrokenSeq: number,
  reason: AuditBreak,
  message: string,
  count: number,
): AuditVerification {
  return { ok: false, firstBrokenSeq, reason, message, count };
}

/**
 * Reads the whole chain as it stands when called (records appended meanwhile are left for next time).
 *
 * @example
 * const result = await verifyAuditLog(jetstream(nc), { anchor: lastKnownHead });
 * if (!result.ok) alert(`audit chain broken at ${result.firstBrokenSeq}: ${result.reason}`);
 */
export async function verifyAuditLog(
  js: JetStreamClient,
  options: VerifyAuditLogOptions = {},
): Promise<AuditVerification> {
  const stream = options.stream ?? streams.audit;
  let info: StreamInfo;
  try {
    const jsm: JetStreamManager = await js.jetstreamManager(false);
    info = await jsm.streams.info(stream);
  } catch (cause) {
    throw new AuditReadError(stream, "could not read the stream's state", { cause });
  }
  const { first_seq: firstSeq, last_seq: lastSeq, messages } = info.state;
  const agedStartOk = options.allowAgedStart === true && (info.config.max_age ?? 0) > 0;
  const start = messages === 0 ? lastSeq + 1 : firstSeq;
  if (start > 1 && !agedStartOk) {
    return broken(
      1,
      AuditBreak.gap,
      `records 1 to ${start - 1} are missing (and aged-out records are not accepted here)`,
      0,
    );
  }
  const { anchor } = options;
  if (anchor !== undefined && anchor.seq > 0 && (anchor.seq < start || anchor.seq > lastSeq)) {
    const where = anchor.seq > lastSeq ? `the chain ends at ${lastSeq}` : `the chain starts at ${start}`;
    return broken(
      anchor.seq,
      AuditBreak.anchorMismatch,
      `anchored record ${anchor.seq} is gone: ${where}`,
      0,
    );
  }
  if (messages === 0)
    return { ok: true, count: 0, firstSeq: start, head: { seq: lastSeq, hash: AUDIT_GENESIS } };
  const bounds = { start, lastSeq, agedStartOk, anchor, options };
  return info.config.allow_direct ? readDirect(js, stream, bounds) : readChain(js, stream, bounds);
}

/** How long each pull of the reading consumer lasts; its heartbeats come at half that. */
const PULL_EXPIRES_MS = 5_000;

interface ChainBounds {
  start: number;
  lastSeq: number;
  agedStartOk: boolean;
  anchor: AuditHead | undefined;
  options: VerifyAuditLogOptions;
}

async function readChain(
  js: JetStreamClient,
  stream: string,
  bounds: ChainBounds,
): Promise<AuditVerification> {
  const { lastSeq, options } = bounds;
  const idleTimeoutMs = options.idleTimeoutMs ?? 10_000;
  const startTimeoutMs = Math.max(options.startTimeoutMs ?? 30_000, idleTimeoutMs);
  let consumer: Consumer;
  let messages: ConsumerMessages;
  try {
    consumer = await js.consumers.get(stream, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: bounds.start,
    });
    // Pulls that expire every 5 s, with the server's heartbeats every 2.5 s: a pull or a consumer lost on a busy
    // cluster (none answers, nothing arrives) is noticed after two missed heartbeats and the consumer made again.
    // At the client's default (30 s pulls) that took 30 s, as long as the wait for a first record allows.
    messages = await consumer.consume({ max_messages: options.batchSize ?? 500, expires: PULL_EXPIRES_MS });
  } catch (cause) {
    throw new AuditReadError(stream, "could not start reading the chain", { cause });
  }

  let stalled: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const watch = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = ms;
      messages.stop();
    }, ms);
  };

  const chain = new ChainCheck(bounds);
  try {
    watch(startTimeoutMs);
    for await (const m of messages) {
      watch(idleTimeoutMs);
      const verified = chain.next(m.seq, m.data);
      if (verified) return verified;
    }
  } catch (cause) {
    throw new AuditReadError(stream, `reading stopped after record ${chain.checkedTo}`, { cause });
  } finally {
    clearTimeout(timer);
    await messages.close();
    await consumer.delete().catch(() => undefined); // ephemeral anyway; this just frees it sooner
  }
  const why = stalled !== undefined ? `no record for ${stalled} ms` : "delivery ended";
  throw new AuditReadError(stream, `${why} after record ${chain.checkedTo} of ${lastSeq}`);
}

/** Direct gets in flight at once: enough to keep a link busy, few enough that one reader stays a small load. */
const DIRECT_GETS_IN_FLIGHT = 32;

/**
 * Reads the chain by sequence with direct gets (`allow_direct`), `DIRECT_GETS_IN_FLIGHT` asked at once and checked
 * in order. A record the stream no longer holds is a gap; a get that fails or goes unanswered (the client's request
 * timeout) ends the read with AuditReadError.
 */
async function readDirect(
  js: JetStreamClient,
  stream: string,
  bounds: ChainBounds,
): Promise<AuditVerification> {
  const chain = new ChainCheck(bounds);
  const asked: Promise<Uint8Array | undefined>[] = [];
  let next = bounds.start;
  try {
    const jsm = await js.jetstreamManager(false);
    const ask = () => {
      const got = jsm.direct.getMessage(stream, { seq: next++ }).then((m) => m?.data);
      got.catch(() => undefined); // a get still in flight when the read ends is not waited for
      asked.push(got);
    };
    while (next <= bounds.lastSeq && asked.length < DIRECT_GETS_IN_FLIGHT) ask();
    for (let seq = bounds.start; seq <= bounds.lastSeq; seq++) {
      const data = await asked.shift();
      if (next <= bounds.lastSeq) ask();
      const verified = chain.next(seq, data);
      if (verified) return verified;
    }
  } catch (cause) {
    throw new AuditReadError(stream, `reading stopped after record ${chain.checkedTo}`, { cause });
  }
  // Only when every record left aged out during the read.
  throw new AuditReadError(stream, `no record after ${chain.checkedTo} of ${bounds.lastSeq}`);
}

/**
 * The chain checked record by record in stream order, from `bounds.start`: `next` gives the outcome once the chain
 * breaks or reaches `bounds.lastSeq`, undefined while it goes on.
 */
class ChainCheck {
  #firstSeq: number;
  #expected: number;
  /** Unknown when older records aged out: the first kept record's `prev` cannot be checked. */
  #prevHash: string | undefined;
  #count = 0;

  constructor(private readonly bounds: ChainBounds) {
    this.#firstSeq = this.#expected = bounds.start;
    this.#prevHash = bounds.start === 1 ? AUDIT_GENESIS : undefined;
  }

  /** The last record checked and found whole. */
  get checkedTo(): number {
    return this.#expected - 1;
  }

  /** The record stored at `seq`, or undefined when the stream holds none there. */
  next(seq: number, data: Uint8Array | undefined): AuditVerification | undefined {
    const { agedStartOk, anchor, lastSeq } = this.bounds;
    const count = this.#count;
    if (count === 0 && agedStartOk && (seq > this.#expected || data === undefined)) {
      // more records aged out since the stream's state was read
      this.#firstSeq = this.#expected = data === undefined ? seq + 1 : seq;
      if (data === undefined) return undefined;
    }
    if (data === undefined) return broken(seq, AuditBreak.gap, `no record at ${seq}`, count);
    if (seq > this.#expected)
      return broken(this.#expected, AuditBreak.gap, `no record at ${this.#expected} (next is ${seq})`, count);
    if (seq < this.#expected) return undefined; // never expected in stream order; ignore rather than double-count
    const decoded = decodeAuditRecord(data);
    if (!decoded.ok) return broken(seq, decoded.reason, decoded.message, count);
    const { record } = decoded;
    if (record.seq !== seq)
      return broken(seq, AuditBreak.seqMismatch, `record says seq ${record.seq} but sits at ${seq}`, count);
    if (this.#prevHash !== undefined && record.prev !== this.#prevHash)
      return broken(seq, AuditBreak.prevMismatch, `prev is not the hash of record ${seq - 1}`, count);
    const hash = auditHash(data);
    if (anchor !== undefined && seq === anchor.seq && hash !== anchor.hash)
      return broken(seq, AuditBreak.anchorMismatch, `record ${seq} is not the anchored record`, count);
    this.#prevHash = hash;
    this.#count++;
    this.#expected++;
    return seq >= lastSeq
      ? { ok: true, count: this.#count, firstSeq: this.#firstSeq, head: { seq, hash } }
      : undefined;
  }
}
