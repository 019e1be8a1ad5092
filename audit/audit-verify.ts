/**
 * Verifying an audit chain: every record, in stream order, through one ordered consumer (batched pulls,
 * no per-record request), checked for encoding, fields, position and the hash link to the record before.
 * A broken chain is a result, never an exception; only failing to read the log throws.
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
  return readChain(js, stream, { start, lastSeq, agedStartOk, anchor, options });
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
  const { lastSeq, anchor, options } = bounds;
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

  let firstSeq = bounds.start;
  let expected = bounds.start;
  // Unknown when older records aged out: the first kept record's `prev` cannot be checked.
  let prevHash: string | undefined = bounds.start === 1 ? AUDIT_GENESIS : undefined;
  let count = 0;
  try {
    watch(startTimeoutMs);
    for await (const m of messages) {
      watch(idleTimeoutMs);
      if (count === 0 && bounds.agedStartOk && m.seq > expected) {
        firstSeq = expected = m.seq; // more records aged out since the stream's state was read
      }
      if (m.seq > expected) {
        return broken(expected, AuditBreak.gap, `no record at ${expected} (next is ${m.seq})`, count);
      }
      if (m.seq < expected) continue; // never expected from an ordered consumer; ignore rather than double-count
      const decoded = decodeAuditRecord(m.data);
      if (!decoded.ok) return broken(m.seq, decoded.reason, decoded.message, count);
      const { record } = decoded;
      if (record.seq !== m.seq) {
        return broken(
          m.seq,
          AuditBreak.seqMismatch,
          `record says seq ${record.seq} but sits at ${m.seq}`,
          count,
        );
      }
      if (prevHash !== undefined && record.prev !== prevHash) {
        return broken(m.seq, AuditBreak.prevMismatch, `prev is not the hash of record ${m.seq - 1}`, count);
      }
      const hash = auditHash(m.data);
      if (anchor !== undefined && m.seq === anchor.seq && hash !== anchor.hash) {
        return broken(m.seq, AuditBreak.anchorMismatch, `record ${m.seq} is not the anchored record`, count);
      }
      prevHash = hash;
      count++;
      expected++;
      if (m.seq >= lastSeq) return { ok: true, count, firstSeq, head: { seq: m.seq, hash } };
    }
  } catch (cause) {
    throw new AuditReadError(stream, `reading stopped after record ${expected - 1}`, { cause });
  } finally {
    clearTimeout(timer);
    await messages.close();
    await consumer.delete().catch(() => undefined); // ephemeral anyway; this just frees it sooner
  }
  const why = stalled !== undefined ? `no record for ${stalled} ms` : "delivery ended";
  throw new AuditReadError(stream, `${why} after record ${expected - 1} of ${lastSeq}`);
}
