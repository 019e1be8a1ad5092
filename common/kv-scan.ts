/**
 * Every key's latest value in a KV bucket, under one key filter, in one pass: an ordered consumer of the bucket's
 * stream delivers them one after another, where listing the keys and reading each costs a round trip per key. A
 * TRE's records grow with every task it ever ran, so what reads them all (an agent's start, a reviewer's list)
 * pays per record only what the server takes to send it. And keys removed through the stream too (`purgeKeys`).
 */
import { DeliverPolicy, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

export interface KvValue {
  key: string;
  value: Uint8Array;
}

/** The KV operation header: a deleted or purged key leaves a marker as its latest message. */
const OPERATION = "KV-Operation";

/**
 * The latest value of every key of `bucket` matching `filter` (a key pattern, `task.>`), as the bucket holds them
 * when the call starts, in stream order; deleted keys left out. Values written meanwhile may or may not be in it.
 */
export async function latestValues(js: JetStreamClient, bucket: string, filter: string): Promise<KvValue[]> {
  const prefix = `$KV.${bucket}.`;
  const consumer = await js.consumers.getPushConsumer(`KV_${bucket}`, {
    filter_subjects: [`${prefix}${filter}`],
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  // The count of latest values when the consumer was made: what it delivers first, before anything newer.
  const { num_pending: total } = await consumer.info(true);
  const values: KvValue[] = [];
  if (total === 0) {
    await consumer.delete().catch(() => undefined);
    return values;
  }
  let seen = 0;
  const keep = (m: JsMsg) => {
    const op = m.headers?.get(OPERATION);
    if (op !== "DEL" && op !== "PURGE") values.push({ key: m.subject.slice(prefix.length), value: m.data });
  };
  const messages = await consumer.consume();
  try {
    for await (const m of messages) {
      keep(m);
      if (++seen >= total) break;
    }
  } finally {
    messages.stop();
  }
  return values;
}

/**
 * Removes every message of `bucket` under each key pattern of `filters` (`task.<id>`, `*.<id>.>`) from the bucket's
 * stream: the keys go with no delete marker left behind, which a delete or purge through the KV API would leave for
 * every later read of the bucket to pass over.
 */
export async function purgeKeys(
  js: JetStreamClient,
  bucket: string,
  filters: readonly string[],
): Promise<void> {
  const jsm = await js.jetstreamManager(false); // no account-info check: the bucket is there
  for (const filter of filters)
    await jsm.streams.purge(`KV_${bucket}`, { filter: `$KV.${bucket}.${filter}` });
}

/** `latestValues`, each value parsed as the JSON record it holds. */
export async function latestRecords<T>(js: JetStreamClient, bucket: string, filter: string): Promise<T[]> {
  const decoder = new TextDecoder();
  return (await latestValues(js, bucket, filter)).map((v) => JSON.parse(decoder.decode(v.value)) as T);
}
