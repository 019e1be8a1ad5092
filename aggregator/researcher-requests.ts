/**
 * The researcher's signed requests to the hub besides submitting: cancel a task, read its per-TRE state
 * (who, when, why), fetch its Releases, see which TREs are online. Each request is signed with the
 * researcher's key, so the hub answers only about the researcher's own tasks.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { requestSigned, type SignedClient } from "../common/index.js";
import {
  type ApiReply,
  apiReply,
  type FreshFields,
  type SigningKey,
  subjects,
  type TaskView,
  type TreLiveness,
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

const hub: SignedClient<ApiReply> = {
  reply: (v) => apiReply(v, "reply"),
  error: (code, message, options) => new HubRequestError(code, message, options),
  noAnswer: "the hub did not answer",
  badReply: { code: "bad_answer", message: () => "the hub's answer is not a valid reply" },
};

function request<T extends "query" | "cancelRequest">(
  nc: NatsConnection,
  key: SigningKey,
  type: T,
  fields: FreshFields<T>,
  timeoutMs: number,
) {
  const subject = type === "query" ? subjects.query : subjects.cancelRequest;
  return requestSigned(nc, hub, { subject, type, fields, key, lifetimeMs: REQUEST_LIFETIME_MS }, timeoutMs);
}

export interface RequestOptions {
  /** How long to wait for the hub's answer, in ms. Default 10 000. */
  timeoutMs?: number;
}

function query(
  nc: NatsConnection,
  key: SigningKey,
  what: "task" | "releases" | "tasks" | "tres",
  taskId: string | undefined,
  opts: RequestOptions & ChangeOptions & { limit?: number },
) {
  const wait = opts.changedFrom ? { changedFrom: opts.changedFrom, waitMs: opts.waitMs ?? 0 } : {};
  const fields = {
    what,
    ...(taskId ? { taskId } : {}),
    ...(opts.limit ? { limit: opts.limit } : {}),
    ...wait,
  };
  // A request that may wait for a change waits for its answer that much longer.
  const timeoutMs = (opts.timeoutMs ?? 10_000) + (opts.changedFrom ? (opts.waitMs ?? 0) : 0);
  return request(nc, key, "query", fields, timeoutMs);
}

export interface ChangeOptions {
  /** The `version` of the view the caller holds: the hub answers once the task has moved on from it… */
  changedFrom?: string;
  /** …or after this long with the same view, in ms (at most `MAX_QUERY_WAIT_MS`). */
  waitMs?: number;
}

/** The task's parent state and every TRE's child state with its history. */
export async function fetchTask(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  opts: RequestOptions & ChangeOptions = {},
): Promise<TaskView> {
  const reply = await query(nc, key, "task", taskId, opts);
  if (!reply.task) throw new HubRequestError("bad_answer", "the hub's answer has no task");
  return reply.task;
}

/** The signer's own tasks, the newest first: at most `limit` (default: the hub's, 50). */
export async function listTasks(
  nc: NatsConnection,
  key: SigningKey,
  opts: RequestOptions & { limit?: number } = {},
): Promise<TaskView[]> {
  const reply = await query(nc, key, "tasks", undefined, opts);
  return reply.tasks ?? [];
}

/** The TRE-signed Release envelopes of a task, verbatim (verify them before use). */
export async function fetchReleases(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  opts: RequestOptions = {},
): Promise<{ tre: string; envelope: Uint8Array }[]> {
  const reply = await query(nc, key, "releases", taskId, opts);
  return reply.releases ?? [];
}

/** Which member TREs are online, from the hub's view of their heartbeats. */
export async function fetchTres(
  nc: NatsConnection,
  key: SigningKey,
  opts: RequestOptions = {},
): Promise<TreLiveness[]> {
  const reply = await query(nc, key, "tres", undefined, opts);
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
  const fields = { taskId, ...(reason ? { reason } : {}) };
  const reply = await request(nc, key, "cancelRequest", fields, opts.timeoutMs ?? 10_000);
  return reply.cancelled ?? [];
}
