/**
 * The researcher's signed requests to the hub besides submitting: cancel a task, read its per-TRE state
 * (who, when, why), fetch its Releases, see which TREs are online. Each request is signed with the
 * researcher's key, so the hub answers only about the researcher's own tasks.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type ApiReply,
  apiReply,
  newId,
  type SigningKey,
  sealEnvelope,
  subjects,
  type TaskView,
  type TreLiveness,
  unpack,
} from "../protocol/index.js";

/** Requests are answered at once or not at all; a short life keeps a captured one useless. */
const REQUEST_LIFETIME_MS = 60_000;

export class HubRequestError extends Error {
  override readonly name = "HubRequestError";
  /** The hub's code (`not_found`, `already_ended`, an envelope code…) or `no_answer` / `bad_answer`. */
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

async function request(
  nc: NatsConnection,
  subject: string,
  envelope: Uint8Array,
  timeoutMs: number,
): Promise<Extract<ApiReply, { status: "ok" }>> {
  let data: Uint8Array;
  try {
    data = (await nc.request(subject, envelope, { timeout: timeoutMs })).data;
  } catch (cause) {
    throw new HubRequestError("no_answer", "the hub did not answer", { cause });
  }
  let reply: ApiReply;
  try {
    reply = apiReply(unpack(data), "reply");
  } catch (cause) {
    throw new HubRequestError("bad_answer", "the hub's answer is not a valid reply", { cause });
  }
  if (reply.status === "error") throw new HubRequestError(reply.code, reply.message);
  return reply;
}

export interface RequestOptions {
  /** How long to wait for the hub's answer, in ms. Default 10 000. */
  timeoutMs?: number;
}

function query(key: SigningKey, what: "task" | "releases" | "tres", taskId?: string): Uint8Array {
  const now = Date.now();
  return sealEnvelope(
    "query",
    { id: newId(now), iat: now, exp: now + REQUEST_LIFETIME_MS, what, ...(taskId ? { taskId } : {}) },
    key,
  );
}

/** The task's parent state and every TRE's child state with its history. */
export async function fetchTask(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  opts: RequestOptions = {},
): Promise<TaskView> {
  const reply = await request(nc, subjects.query, query(key, "task", taskId), opts.timeoutMs ?? 10_000);
  if (!reply.task) throw new HubRequestError("bad_answer", "the hub's answer has no task");
  return reply.task;
}

/** The TRE-signed Release envelopes of a task, verbatim (verify them before use). */
export async function fetchReleases(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  opts: RequestOptions = {},
): Promise<{ tre: string; envelope: Uint8Array }[]> {
  const reply = await request(nc, subjects.query, query(key, "releases", taskId), opts.timeoutMs ?? 10_000);
  return reply.releases ?? [];
}

/** Which member TREs are online, from the hub's view of their heartbeats. */
export async function fetchTres(
  nc: NatsConnection,
  key: SigningKey,
  opts: RequestOptions = {},
): Promise<TreLiveness[]> {
  const reply = await request(nc, subjects.query, query(key, "tres"), opts.timeoutMs ?? 10_000);
  return reply.tres ?? [];
}

/** Asks the hub to cancel the task at every TRE where it has not ended; returns those TREs. */
export async function cancelTask(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  reason?: string,
  opts: RequestOptions = {},
): Promise<string[]> {
  const now = Date.now();
  const envelope = sealEnvelope(
    "cancelRequest",
    { id: newId(now), iat: now, exp: now + REQUEST_LIFETIME_MS, taskId, ...(reason ? { reason } : {}) },
    key,
  );
  const reply = await request(nc, subjects.cancelRequest, envelope, opts.timeoutMs ?? 10_000);
  return reply.cancelled ?? [];
}
