/**
 * A task as a hub signing with another key would queue it: a Dispatch (and, if asked, its Cancel) put straight into a
 * TRE's TASKS through the hub services' JetStream, sealed by `signer`, for the tests of which hub keys a leaf pins.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { newId, type SigningKey, sealEnvelope, subjects } from "../../protocol/index.js";

/** Queues for `tre` a count task signed by `signer` (its Submission too); returns its task id. */
export async function queueSignedBy(
  js: JetStreamClient,
  tre: string,
  signer: SigningKey,
  { cancel = false }: { cancel?: boolean } = {},
): Promise<string> {
  const now = Date.now();
  const times = { iat: now, exp: now + 3_600_000 };
  const taskId = newId();
  const analysis = { kind: "count", dataset: "patients" } as const;
  const submission = sealEnvelope(
    "submission",
    { id: taskId, ...times, project: "diabetes", tres: [tre], analysis },
    signer,
  );
  await js.publish(
    subjects.dispatch(tre, taskId),
    sealEnvelope("dispatch", { id: newId(), ...times, taskId, tre, submission }, signer),
    { msgID: newId() },
  );
  if (cancel)
    await js.publish(
      subjects.cancel(tre, taskId),
      sealEnvelope("cancel", { id: newId(), ...times, taskId, tre, reason: "x" }, signer),
      { msgID: newId() },
    );
  return taskId;
}
