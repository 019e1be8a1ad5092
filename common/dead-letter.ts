/**
 * Dead letters: every message a receiver refuses is acked away into this stream with the reason,
 * so nothing is silently dropped and a poisoned message never blocks or crashes a consumer.
 * The hub keeps one in FED, each leaf one in CTRL (a TRE's refusals stay in the TRE).
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { type DeadLetterCode, deadLetterSubject, pack } from "../protocol/index.js";
import { baseStreamConfig, ensureStream, nanos } from "./jetstream-streams.js";

export const DEAD_LETTER_STREAM = "DEADLETTER";

/** At most this much of a refused message is kept: enough to inspect it, not enough to hoard data. */
export const DEAD_LETTER_HEAD_BYTES = 64 * 1024;

export interface DeadLetterStreamOptions {
  /** How long dead letters are kept, in ms. Default 90 days: long enough for an incident review. */
  maxAgeMs?: number;
  /** Upper bound on the stream's size, in bytes. Default 1 GiB, so a flood cannot fill the disk. */
  maxBytes?: number;
  /** Stream replicas. Default 1; 3 on a clustered hub. */
  replicas?: number;
}

export async function ensureDeadLetterStream(
  jsm: JetStreamManager,
  scope: string,
  opts: DeadLetterStreamOptions = {},
): Promise<void> {
  await ensureStream(jsm, {
    ...baseStreamConfig(),
    name: DEAD_LETTER_STREAM,
    subjects: [deadLetterSubject(scope)],
    max_age: nanos(opts.maxAgeMs ?? 90 * 86400_000, "maxAgeMs"),
    max_bytes: opts.maxBytes ?? 2 ** 30,
    num_replicas: opts.replicas ?? 1,
  });
}

export interface DeadLetter {
  /** Where the message was refused: the subject it came on, and its stream position if any. */
  subject: string;
  stream?: string;
  seq?: number;
  /** The rejection code (`DeadLetterCode`: the envelope's, or the receiver's own) and the human reason. */
  code: DeadLetterCode;
  message: string;
  field?: string;
}

/** Records a refused message with its reason (through `refuseMessage`, which also audits and reports it). */
export async function recordDeadLetter(
  js: JetStreamClient,
  scope: string,
  letter: DeadLetter,
  data: Uint8Array,
): Promise<void> {
  await js.publish(
    deadLetterSubject(scope),
    pack({ ...letter, at: Date.now(), size: data.length, head: data.subarray(0, DEAD_LETTER_HEAD_BYTES) }),
  );
}
