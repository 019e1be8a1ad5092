/**
 * Refusing a message, one way for every receiver of the hub and the leaves: it is recorded as a dead letter with
 * its reason (the whole subject, the head of its bytes), in the audit log (who refused it, the code and the
 * subject), and reported to the process as a `refused` event. Nothing refused is silently dropped.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Refusal } from "../protocol/index.js";
import { recordDeadLetter } from "./dead-letter.js";

/** Where a service records what it decided. The hash-chained audit log implements it. */
export interface AuditSink {
  append(
    entry: {
      actor: string;
      action: string;
      taskId?: string;
      tre?: string;
      details?: Record<string, string | number | boolean>;
    },
    options?: { once?: string; since?: number },
  ): Promise<unknown>;
}

/** What a receiver reports of a message it refused. */
export interface RefusedEvent {
  type: "refused";
  subject: string;
  code: string;
  reason: string;
}

/** Who refuses, and where its refusals go. */
export interface Refuser {
  js: JetStreamClient;
  /** "hub" or the TRE's name: the dead letters of that scope. */
  scope: string;
  /** The refusing party, as the audit log names it. */
  actor: string;
  audit: AuditSink;
  onRefused?: (e: RefusedEvent) => void;
}

/** A refused message: where it came, and its bytes. */
export interface RefusedMessage {
  subject: string;
  data: Uint8Array;
  /** The stream and position it was read from, for a durable consumer. */
  stream?: string;
  seq?: number;
}

/** The audit log's limit on one detail string (`auditLimits.detailStringChars`). */
const AUDIT_DETAIL_CHARS = 256;

/** Dead letter, audit record, event: the one path of a refused message. */
export async function refuseMessage(refuser: Refuser, message: RefusedMessage, why: Refusal): Promise<void> {
  const { subject } = message;
  refuser.onRefused?.({ type: "refused", subject, code: why.code, reason: why.message });
  await recordDeadLetter(
    refuser.js,
    refuser.scope,
    {
      subject,
      ...(message.stream === undefined ? {} : { stream: message.stream }),
      ...(message.seq === undefined ? {} : { seq: message.seq }),
      code: why.code,
      message: why.message,
      ...(why.field ? { field: why.field } : {}),
    },
    message.data,
  );
  await refuser.audit.append({
    actor: refuser.actor,
    action: "message.refused",
    // A hostile subject can be kilobytes long; the dead letter keeps it whole.
    details: { code: why.code, subject: subject.slice(0, AUDIT_DETAIL_CHARS) },
  });
}
