/**
 * A reviewer's requests to their TRE's airlock: signed ReviewQuery and Decision envelopes sent on the leaf's
 * controlled account, replies validated before use. A refusal becomes an AirlockRequestError carrying the
 * airlock's code.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { requestSigned, type SignedClient } from "../common/index.js";
import {
  type AirlockOutputView,
  type AirlockReply,
  type AirlockTaskView,
  airlockReply,
  FieldError,
  type FreshFields,
  type SigningKey,
  subjects,
} from "../protocol/index.js";

const REQUEST_LIFETIME_MS = 60_000;
const DECISION_LIFETIME_MS = 30 * 86_400_000;

export class AirlockRequestError extends Error {
  override readonly name = "AirlockRequestError";
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

const airlock: SignedClient<AirlockReply> = {
  reply: (v) => airlockReply(v, ""),
  error: (code, message, options) => new AirlockRequestError(code, message, options),
  noAnswer: "the airlock did not answer (is the TRE's agent running?)",
  badReply: {
    code: "bad_reply",
    message: (cause) =>
      `the airlock's reply is malformed${cause instanceof FieldError ? ` (${cause.message})` : ""}`,
  },
};

function request<T extends "reviewQuery" | "decision">(
  nc: NatsConnection,
  key: SigningKey,
  type: T,
  fields: FreshFields<T>,
) {
  const decision = type === "decision";
  const subject = decision ? subjects.airlockDecide : subjects.airlockQuery;
  const lifetimeMs = decision ? DECISION_LIFETIME_MS : REQUEST_LIFETIME_MS;
  return requestSigned(nc, airlock, { subject, type, fields, key, lifetimeMs }, 10_000);
}

function query(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  what: "list" | "show" | "crate",
  extra: { taskId?: string; all?: boolean },
) {
  return request(nc, key, "reviewQuery", { tre, what, ...extra });
}

export async function listReviews(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  all = false,
): Promise<AirlockTaskView[]> {
  const reply = await query(nc, key, tre, "list", all ? { all } : {});
  return reply.tasks ?? [];
}

export async function showReview(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  taskId: string,
): Promise<AirlockTaskView> {
  const reply = await query(nc, key, tre, "show", { taskId });
  const task = reply.tasks?.[0];
  if (!task) throw new AirlockRequestError("bad_reply", "the airlock answered without the task");
  return task;
}

/** The TRE's signed crate of a task it has released, as it published it (a BagIt zip). */
export async function fetchCrate(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  taskId: string,
): Promise<Uint8Array> {
  const reply = await query(nc, key, tre, "crate", { taskId });
  if (!reply.crate) throw new AirlockRequestError("bad_reply", "the airlock answered without the crate");
  return reply.crate;
}

export interface DecisionRequest {
  tre: string;
  taskId: string;
  outputId: string;
  outputDigest: string;
  verdict: "approve" | "reject";
  reason?: string;
}

/** Signs and sends one decision; resolves with the output as the airlock holds it afterwards. */
export async function sendDecision(
  nc: NatsConnection,
  key: SigningKey,
  d: DecisionRequest,
): Promise<AirlockOutputView> {
  const reply = await request(nc, key, "decision", d);
  if (!reply.output) throw new AirlockRequestError("bad_reply", "the airlock answered without the output");
  return reply.output;
}
