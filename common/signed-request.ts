/**
 * The client side of a signed request/reply service (the researcher's requests to the hub, a reviewer's to their
 * TRE's airlock): seals a fresh request, waits for the answer, validates it, and turns each way it can fail into
 * the caller's own error: no answer, a malformed answer, or the service's refusal with its code.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type FreshFields, type MessageType, type SigningKey, sealFresh, unpack } from "../protocol/index.js";

/** One signed request: what to send, where, signed by whom and valid for how long. */
export interface SignedRequest<T extends MessageType> {
  subject: string;
  type: T;
  fields: FreshFields<T>;
  key: SigningKey;
  /** How long the request stays valid, in ms (a short life keeps a captured request useless). */
  lifetimeMs: number;
}

/** A service's replies: `ok` with the answer, or `error` with a code and a message. */
type Reply = { status: "ok" } | { status: "error"; code: string; message: string };

/** One service as its clients see it: its replies, and the client's own error for each way a request fails. */
export interface SignedClient<R extends Reply> {
  /** Validates the reply (the service's reply schema). */
  reply: (value: unknown) => R;
  /** The client's error class; `code` is `no_answer`, `badReply.code`, or the service's refusal code. */
  error: (code: string, message: string, options?: ErrorOptions) => Error;
  /** What the error says when no answer came in time. */
  noAnswer: string;
  /** The code and message of an answer that is not a valid reply. */
  badReply: { code: string; message: (cause: unknown) => string };
}

/** Sends a signed request and resolves with the service's `ok` reply; throws the caller's error otherwise. */
export async function requestSigned<T extends MessageType, R extends Reply>(
  nc: NatsConnection,
  client: SignedClient<R>,
  request: SignedRequest<T>,
  /** How long to wait for the answer, in ms. */
  timeoutMs: number,
): Promise<Extract<R, { status: "ok" }>> {
  const envelope = sealFresh(request.type, request.fields, request.key, request.lifetimeMs);
  let data: Uint8Array;
  try {
    data = (await nc.request(request.subject, envelope, { timeout: timeoutMs })).data;
  } catch (cause) {
    throw client.error("no_answer", client.noAnswer, { cause });
  }
  let reply: R;
  try {
    reply = client.reply(unpack(data));
  } catch (cause) {
    throw client.error(client.badReply.code, client.badReply.message(cause), { cause });
  }
  if (reply.status === "error") {
    const refused = reply as Extract<Reply, { status: "error" }>;
    throw client.error(refused.code, refused.message);
  }
  return reply as Extract<R, { status: "ok" }>;
}
