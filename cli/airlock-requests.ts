/**
 * A reviewer's requests to their TRE's airlock: signed ReviewQuery and Decision envelopes sent on the leaf's
 * controlled account, replies validated before use. A refusal becomes an AirlockRequestError carrying the
 * airlock's code.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AirlockOutputView,
  type AirlockReply,
  type AirlockTaskView,
  airlockReply,
  FieldError,
  newId,
  type SigningKey,
  sealEnvelope,
  subjects,
  unpack,
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

async function request(nc: NatsConnection, subject: string, data: Uint8Array): Promise<AirlockReply> {
  let bytes: Uint8Array;
  try {
    bytes = (await nc.request(subject, data, { timeout: 10_000 })).data;
  } catch (cause) {
    throw new AirlockRequestError("no_answer", "the airlock did not answer (is the TRE's agent running?)", {
      cause,
    });
  }
  let reply: AirlockReply;
  try {
    reply = airlockReply(unpack(bytes), "");
  } catch (cause) {
    const where = cause instanceof FieldError ? ` (${cause.message})` : "";
    throw new AirlockRequestError("bad_reply", `the airlock's reply is malformed${where}`, { cause });
  }
  if (reply.status === "error") throw new AirlockRequestError(reply.code, reply.message);
  return reply;
}

function query(
  key: SigningKey,
  tre: string,
  what: "list" | "show",
  extra: { taskId?: string; all?: boolean },
) {
  const now = Date.now();
  return sealEnvelope(
    "reviewQuery",
    { id: newId(now), iat: now, exp: now + REQUEST_LIFETIME_MS, tre, what, ...extra },
    key,
  );
}

export async function listReviews(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  all = false,
): Promise<AirlockTaskView[]> {
  const reply = await request(nc, subjects.airlockQuery, query(key, tre, "list", all ? { all } : {}));
  return reply.status === "ok" ? (reply.tasks ?? []) : [];
}

export async function showReview(
  nc: NatsConnection,
  key: SigningKey,
  tre: string,
  taskId: string,
): Promise<AirlockTaskView> {
  const reply = await request(nc, subjects.airlockQuery, query(key, tre, "show", { taskId }));
  const task = reply.status === "ok" ? reply.tasks?.[0] : undefined;
  if (!task) throw new AirlockRequestError("bad_reply", "the airlock answered without the task");
  return task;
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
  const now = Date.now();
  const envelope = sealEnvelope(
    "decision",
    { id: newId(now), iat: now, exp: now + DECISION_LIFETIME_MS, ...d },
    key,
  );
  const reply = await request(nc, subjects.airlockDecide, envelope);
  if (reply.status !== "ok" || !reply.output)
    throw new AirlockRequestError("bad_reply", "the airlock answered without the output");
  return reply.output;
}
