/**
 * The typed intake of a TRE subject's message: opened as the type its subject names, for the TRE its subject
 * names, and refused unless it names the subject's task. Used by every durable consumer (the leaf's agent on
 * INBOX, the hub's status tracker on the TREs' results), so each refuses alike.
 */
import { type OpenOptions, openEnvelopeAsync, type VerifiedOf } from "./envelope.js";
import { DeadLetterCode, fail, ok, type Refusal, type Result, refusal, refusalOf } from "./errors.js";
import type { TreSubject } from "./subjects.js";

/** A parsed TRE subject that names a task. */
export type TaskSubject = Extract<TreSubject, { taskId: string }>;

/**
 * Opens `bytes` that came on `subject` (parsed as `where`): the envelope must be of `where.kind`, for
 * `where.tre`, and about `where.taskId`; anything else is the refusal to dead-letter it with. The signature is
 * checked on Node's thread pool (`openEnvelopeAsync`): these intakes carry most of a federation's messages.
 *
 * @example
 * const opened = await openTaskMessage(where, m.subject, m.data, { trust: hubTrust, now });
 * if (!opened.ok) return opened.error; // a Refusal
 */
export async function openTaskMessage<S extends TaskSubject>(
  where: S,
  subject: string,
  bytes: Uint8Array,
  opts: Omit<OpenOptions<S["kind"]>, "expect" | "tre">,
): Promise<Result<VerifiedOf<S["kind"]>, Refusal>> {
  const opened = await openEnvelopeAsync<S["kind"]>(bytes, { ...opts, expect: where.kind, tre: where.tre });
  if (!opened.ok) return fail(refusalOf(opened.error));
  const { type, body } = opened.value;
  if (body.taskId !== where.taskId) {
    return fail(
      refusal(DeadLetterCode.wrongSubject, `${type} for task ${body.taskId} arrived on ${subject}`),
    );
  }
  return ok(opened.value);
}
