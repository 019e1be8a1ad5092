/**
 * What the fault suite counts, read from records that the at-most-once machinery does not keep for itself:
 *
 * - **executions**: the TRE's hash-chained audit log (checked intact first), where the agent writes `task.running`
 *   before an executor may start (so a task has at most as many runs as records) and the airlock `airlock.held`
 *   for every run's outputs; and, for PostgreSQL, the database server's own log with `log_connections` on, where
 *   each run's single login as the task's ephemeral role appears once per run, whatever the agent believes;
 * - **releases**: the per-subject message counts of the streams a Release crosses (the leaf's OUTBOX, the hub's
 *   `TRE_RESULTS` view), i.e. what was stored, after message-id deduplication, for the hub to read.
 *
 * @example
 * const runs = countBy(await auditRecords(jetstream(leaf.ctrl)), "task.running");
 * const releases = await messagesPerSubject(leaf.dmzJsm, streams.outbox, subjects.release("a", "*"));
 */
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { type AuditRecord, decodeAuditRecord, verifyAuditLog } from "../../audit/index.js";
import { streams } from "../../protocol/index.js";

/** Every record of the audit chain in `js`'s account, after checking that the chain is intact. */
export async function auditRecords(
  js: JetStreamClient,
  stream: string = streams.audit,
): Promise<AuditRecord[]> {
  const verified = await verifyAuditLog(js, { stream });
  if (!verified.ok)
    throw new Error(`the audit chain is broken at ${verified.firstBrokenSeq}: ${verified.message}`);
  const last = verified.head.seq;
  const records: AuditRecord[] = [];
  if (verified.count === 0) return records;
  const consumer = await js.consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: verified.firstSeq,
  });
  const messages = await consumer.consume({ max_messages: 500, expires: 5_000 }); // a lost pull is re-made in ~5 s
  try {
    for await (const m of messages) {
      const decoded = decodeAuditRecord(m.data);
      if (!decoded.ok) throw new Error(`audit record ${m.seq}: ${decoded.message}`);
      records.push(decoded.record);
      if (m.seq >= last) break;
    }
  } finally {
    await messages.close();
  }
  return records;
}

/** How many records of `action` there are per task (or per `keyOf` of the record). */
export function countBy(
  records: readonly AuditRecord[],
  action: string,
  keyOf: (r: AuditRecord) => string | undefined = (r) => r.taskId,
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) {
    const key = r.action === action ? keyOf(r) : undefined;
    if (key !== undefined) counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Messages stored per subject matching `filter` (a subject with wildcards), as the server counts them. */
export async function messagesPerSubject(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): Promise<Map<string, number>> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return new Map(Object.entries(info.state.subjects ?? {}));
}

/**
 * Logins per role in a PostgreSQL server log written with `log_connections = on`, for roles starting with
 * `prefix` ("connection authorized: user=<role> …", one line per successful login).
 */
export function loginsByRole(log: string, prefix: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const m of log.matchAll(/connection authorized: user=(\S+)/g)) {
    const role = m[1]!;
    if (role.startsWith(prefix)) counts.set(role, (counts.get(role) ?? 0) + 1);
  }
  return counts;
}
