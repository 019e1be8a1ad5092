/**
 * JetStream stream helpers shared by the hub and the leaf: idempotent create-or-update and the settings every
 * tremesh stream shares (restarting stale sources is source-restarts.ts).
 */

import { setTimeout as sleep } from "node:timers/promises";
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { type KV, Kvm, type KvOptions } from "@nats-io/kv";

/** A stream configuration as tremesh sets it: the fields it decides, the server's defaults for the rest. */
export type StreamSpec = Partial<StreamConfig> & Pick<StreamConfig, "name">;

export function baseStreamConfig(): Pick<StreamConfig, "retention" | "storage" | "discard" | "num_replicas"> {
  // Limits, never WorkQueue: a consumer's ack must never delete what a TRE (or the federation) has not yet
  // copied. File storage: tasks and results survive a restart.
  return {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
  };
}

/**
 * Brings every stream of the connection's account to `replicas` copies: the KV buckets the client library
 * creates with one copy and never updates, and whatever an older, unclustered start created. Returns the
 * streams it changed. nats-server copies the data to the new replicas in the background.
 */
export async function setAccountReplicas(jsm: JetStreamManager, replicas: number): Promise<string[]> {
  const changed: string[] = [];
  for await (const info of jsm.streams.list()) {
    if (info.config.num_replicas === replicas) continue;
    await whileCreating(() =>
      jsm.streams.update(info.config.name, { ...info.config, num_replicas: replicas }),
    );
    changed.push(info.config.name);
  }
  return changed;
}

/**
 * Reads that a service makes as it starts (a scan of a bucket's keys), made again while a clustered hub's streams
 * settle: the nodes start together, and a stream another node has just created or given more copies may not
 * answer until its leader is elected. A read is safe to repeat.
 */
export function whileStreamsSettle<T>(read: () => Promise<T>): Promise<T> {
  return whileCreating(read);
}

/**
 * A stream's create that handles "name in use" itself (`ensureAuditStream`), made again while the cluster cannot
 * place it yet: a node that has joined but not caught up is not a "suitable peer", and a request lost in a meta
 * leader's election gets no answer. The create may wrap the server's error as its `cause`. A create is safe to
 * repeat.
 */
export function whilePlacing<T>(create: () => Promise<T>): Promise<T> {
  return retrying(
    create,
    (error) => placementPending(error) || (error instanceof Error && placementPending(error.cause)),
  );
}

/** JetStream's "stream name already in use": another instance created it between our info and add. */
const STREAM_NAME_IN_USE = 10058;
/** JetStream's "no suitable peers for placement": a clustered hub's node that has not caught up yet. */
const NO_SUITABLE_PEERS = 10005;

/** Adds the stream, or updates it to `config`; an immutable difference (storage, retention) is an error. */
export function ensureStream(jsm: JetStreamManager, config: StreamSpec): Promise<StreamInfo> {
  return whileCreating(() => addOrUpdate(jsm, config));
}

/**
 * Runs a create-if-missing step (a stream, a KV bucket) again while another instance's create of the same stream
 * is in flight. The nodes of a clustered hub start together and create the same streams: between one node's
 * create and the stream's placement, another node's info says "not found" and its add says "name in use"; a node
 * that has joined but not caught up is not yet a "suitable peer"; and a request that reaches the meta group while
 * it elects a leader gets no answer.
 */
function whileCreating<T>(step: () => Promise<T>): Promise<T> {
  return retrying(
    step,
    (error) =>
      isApiError(error, JetStreamApiCodes.StreamNotFound) ||
      isApiError(error, STREAM_NAME_IN_USE) ||
      placementPending(error),
  );
}

/** Not placeable yet; a request lost in a meta leader's election times out (an identical add is a no-op). */
function placementPending(error: unknown): boolean {
  return isApiError(error, NO_SUITABLE_PEERS) || (error instanceof Error && error.name === "TimeoutError");
}

async function retrying<T>(step: () => Promise<T>, transient: (error: unknown) => boolean): Promise<T> {
  const deadline = Date.now() + CREATE_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      if (!transient(error) || Date.now() > deadline) throw error;
      await sleep(Math.min(100 * attempt, 1_000));
    }
  }
}

/** Opens the KV bucket, creating it when missing, alongside other instances doing the same. */
export function openBucket(js: JetStreamClient, name: string, options: Partial<KvOptions>): Promise<KV> {
  // Reads go to the bucket's leader, never `allow_direct`: on a clustered hub any replica answers a direct get,
  // and a follower that has not applied the last write yet answers without it (a task shown `completed` whose
  // last Release was then missing from the researcher's fetch). On one node the two cost the same.
  return whileCreating(() => new Kvm(js).create(name, { ...options, allow_direct: false }));
}

/**
 * How long a create keeps trying: a placement takes milliseconds, an election seconds, and a node that has just
 * joined a busy cluster may take tens of seconds to catch up.
 */
const CREATE_PATIENCE_MS = 60_000;

async function addOrUpdate(jsm: JetStreamManager, config: StreamSpec): Promise<StreamInfo> {
  try {
    await jsm.streams.info(config.name);
  } catch (error) {
    if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    try {
      return await jsm.streams.add(structuredClone(config));
    } catch (addError) {
      if (!isApiError(addError, STREAM_NAME_IN_USE)) throw addError;
    }
  }
  return jsm.streams.update(config.name, structuredClone(config));
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/** JetStream durations are nanoseconds; past ~104 days they no longer fit a safe integer. */
export function nanos(ms: number, field: string): number {
  const ns = ms * 1_000_000;
  if (!Number.isSafeInteger(ns) || ns < 0) {
    throw new RangeError(`\`${field}\`: ${ms} ms is not a whole, non-negative duration below ~104 days`);
  }
  return ns;
}
