/**
 * The researcher's side of a submission: sign the analysis request with the researcher's key, send
 * it to the hub's submission service, and read its answer.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AnalysisSpec,
  newId,
  type SigningKey,
  SubmitRejectCode,
  type SubmitReply,
  sealEnvelope,
  subjects,
  submitReply,
  unpack,
} from "../protocol/index.js";

export interface SubmitOptions {
  project: string;
  tres: string[];
  analysis: AnalysisSpec;
  title?: string;
  /** The request crate's BagIt `External-Identifier` (`submit --crate`), kept by every crate of the task. */
  externalId?: string;
  /** How long the TREs may still start the task, from now. Default 7 days: a TRE may be offline for days. */
  validForMs?: number;
  /** Reuse an id to retry a submission safely: the hub answers with the same task. Default: a new id. */
  id?: string;
  /** How long to wait for the hub's answer. Default 10 s. */
  timeoutMs?: number;
  /**
   * For how long a hub that does not answer, or answers `unavailable` (a clustered hub electing new leaders after
   * losing a node), is asked again with the same signed Submission, in ms. The same id finds the same task, so a
   * retry never makes a second one. Default 30 000; 0 asks once.
   */
  retryForMs?: number;
}

export class SubmitError extends Error {
  override readonly name = "SubmitError";
}

/** Builds and signs a Submission envelope. */
export function signSubmission(key: SigningKey, opts: SubmitOptions, now = Date.now()): Uint8Array {
  return sealEnvelope(
    "submission",
    {
      id: opts.id ?? newId(now),
      iat: now,
      exp: now + (opts.validForMs ?? 7 * 86400_000),
      project: opts.project,
      tres: opts.tres,
      analysis: opts.analysis,
      ...(opts.title ? { title: opts.title } : {}),
      ...(opts.externalId ? { externalId: opts.externalId } : {}),
    },
    key,
  );
}

/** Sends a signed Submission (made by `signSubmission`) and returns the hub's validated answer. */
export async function sendSubmission(
  nc: NatsConnection,
  envelope: Uint8Array,
  timeoutMs = 10_000,
): Promise<SubmitReply> {
  let data: Uint8Array;
  try {
    data = (await nc.request(subjects.submit, envelope, { timeout: timeoutMs })).data;
  } catch (cause) {
    throw new SubmitError("the hub's submission service did not answer", { cause });
  }
  try {
    return submitReply(unpack(data), "reply");
  } catch (cause) {
    throw new SubmitError("the hub's answer is not a valid submission reply", { cause });
  }
}

export async function submit(nc: NatsConnection, key: SigningKey, opts: SubmitOptions): Promise<SubmitReply> {
  const envelope = signSubmission(key, opts);
  const deadline = Date.now() + (opts.retryForMs ?? 30_000);
  for (let attempt = 1; ; attempt++) {
    const reply = await sendSubmission(nc, envelope, opts.timeoutMs).catch((error: unknown) => {
      // A closed connection is not retried here: the caller connects again (and may resubmit).
      if (error instanceof SubmitError && !nc.isClosed() && Date.now() < deadline) return undefined;
      throw error;
    });
    const unavailable = reply?.status === "rejected" && reply.code === SubmitRejectCode.unavailable;
    if (reply !== undefined && (!unavailable || Date.now() >= deadline)) return reply;
    await sleep(Math.min(250 * attempt, 2_000));
  }
}
