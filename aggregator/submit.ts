/**
 * The researcher's side of a submission: sign the analysis request with the researcher's key, send
 * it to the hub's submission service, and read its answer.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type AnalysisSpec,
  newId,
  type SigningKey,
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
  /** How long the TREs may still start the task, from now. Default 7 days: a TRE may be offline for days. */
  validForMs?: number;
  /** Reuse an id to retry a submission safely: the hub answers with the same task. Default: a new id. */
  id?: string;
  /** How long to wait for the hub's answer. Default 10 s. */
  timeoutMs?: number;
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
  return sendSubmission(nc, signSubmission(key, opts), opts.timeoutMs);
}
