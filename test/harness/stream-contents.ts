import type { JetStreamClient, JetStreamManager, StoredMsg, StreamInfo } from "@nats-io/jetstream";
import { waitFor } from "../../common/index.js";
import { openEnvelope, type StatusEvent, streams, subjects, TrustStore } from "../../protocol/index.js";

/** One stored message, reduced to what the tests compare. */
export interface StoredEntry {
  seq: number;
  subject: string;
  /** `Nats-Msg-Id`, or "" when the producer set none. */
  msgId: string;
  /** `Nats-Stream-Source` as the server wrote it when the message was sourced ("" otherwise). */
  source: string;
  data: string;
}

/** Every message currently in `stream`, read by sequence (no consumer state left behind). */
export async function storedEntries(jsm: JetStreamManager, stream: string): Promise<StoredEntry[]> {
  const { state } = await jsm.streams.info(stream);
  const entries: StoredEntry[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const msg: StoredMsg | null = await jsm.streams.getMessage(stream, { seq });
    if (msg === null) continue; // deleted or expired
    entries.push({
      seq: msg.seq,
      subject: msg.subject,
      msgId: msg.header?.get("Nats-Msg-Id") ?? "",
      source: msg.header?.get("Nats-Stream-Source") ?? "",
      data: msg.string(),
    });
  }
  return entries;
}

/** A task's StatusEvents in a TRE's OUTBOX, in order, each verified against the TRE's public key. */
export async function outboxStatusEvents(
  { js, jsm }: { js: JetStreamClient; jsm: JetStreamManager },
  tre: string,
  treKey: string,
  taskId: string,
): Promise<StatusEvent[]> {
  const trust = new TrustStore().add({ publicKey: treKey, role: "tre", name: tre, tre });
  const filter = subjects.status(tre, taskId);
  const info = await jsm.streams.info(streams.outbox, { subjects_filter: filter });
  const count = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  const consumer = await js.consumers.get(streams.outbox, { filter_subjects: filter });
  const out: StatusEvent[] = [];
  for (let i = 0; i < count; i++) {
    const m = await consumer.next({ expires: 5_000 });
    if (!m) throw new Error(`StatusEvent ${i + 1} of ${count} of task ${taskId} was not delivered`);
    const opened = openEnvelope(m.data, { trust, expect: "status", tre, allowExpired: true });
    if (!opened.ok) throw new Error(opened.error.message);
    out.push(opened.value.body);
  }
  return out;
}

/**
 * Waits until `stream` holds `count` messages and every one of its sources has caught up (no lag, no error):
 * once a source has nothing pending, no later duplicate can arrive from it, so the count is final.
 */
export async function waitForSettledStream(
  jsm: JetStreamManager,
  stream: string,
  count: number,
  timeoutMs = 60_000,
): Promise<StreamInfo> {
  return waitFor(
    `${stream} to hold ${count} message(s) with every source caught up`,
    async () => {
      const info = await jsm.streams.info(stream);
      const settled = (info.sources ?? []).every((s) => s.lag === 0 && s.error === undefined);
      return info.state.messages === count && settled ? info : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
