/**
 * JetStream stream helpers shared by the hub and the leaf: idempotent create-or-update, restarting stale
 * sources, and the settings every tremesh stream shares.
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
import { subjects } from "../protocol/index.js";

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
    await jsm.streams.update(info.config.name, { ...info.config, num_replicas: replicas });
    changed.push(info.config.name);
  }
  return changed;
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
export async function whileCreating<T>(step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + CREATE_PATIENCE_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (error) {
      // A request lost in a meta leader's election times out; asking again is safe (an identical add is a no-op).
      const racing =
        isApiError(error, JetStreamApiCodes.StreamNotFound) ||
        isApiError(error, STREAM_NAME_IN_USE) ||
        isApiError(error, NO_SUITABLE_PEERS) ||
        (error instanceof Error && error.name === "TimeoutError");
      if (!racing || Date.now() > deadline) throw error;
      await sleep(Math.min(100 * attempt, 1_000));
    }
  }
}

/** Opens the KV bucket, creating it when missing, alongside other instances doing the same. */
export function openBucket(js: JetStreamClient, name: string, options: Partial<KvOptions>): Promise<KV> {
  return whileCreating(() => new Kvm(js).create(name, options));
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

export interface StaleSourceOptions {
  staleAfterMs?: number;
  leader?: string;
}

/**
 * Restarts the stream's stale sources now, instead of waiting for nats-server to retry. A source whose link was
 * down when nats-server asked for its consumer waits 30 s for the lost request, then backs off up to 2 min more
 * after repeated failures (nats-server 2.10); call this when the link is back (e.g. on start, after a restart of
 * the other side, or every few seconds while a source is stale). The stream resumes each source after the last
 * message it already holds from it: nothing is lost or stored twice. Returns the sources it restarted.
 *
 * @param staleAfterMs A source with no activity for this long, never active, or in error, is restarted. Default
 *   3 000 ms: three missed heartbeats, nats-server's own threshold. 0 restarts every source, e.g. right after
 *   the link came back, when a consumer lost with a restarted server does not look stale yet.
 * @param leader On a clustered server, its server name: only the stream's leader restarts the stream's sources.
 *   Otherwise every node would take its turn restarting a source before the last restart had connected.
 */
export async function resumeStaleSources(
  jsm: JetStreamManager,
  stream: string,
  { staleAfterMs = 3_000, leader }: StaleSourceOptions = {},
): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  if (leader !== undefined && info.cluster?.leader !== leader) return [];
  const configured = info.config.sources ?? [];
  const stale = new Set(
    (info.sources ?? [])
      .filter((s) => s.error !== undefined || s.active < 0 || s.active >= staleAfterMs * 1_000_000)
      .map((s) => s.name),
  );
  if (stale.size === 0) return [];
  // Removing a source and adding it back is how a stream restarts one: it finds where it left off. A stream
  // left with neither sources nor subjects would be given a subject named after itself, so hold a placeholder.
  const remaining = configured.filter((s) => !stale.has(s.name));
  const ownSubjects = info.config.subjects ?? [];
  await jsm.streams.update(stream, {
    sources: remaining,
    subjects:
      remaining.length === 0 && ownSubjects.length === 0 ? [subjects.sourceRestart(stream)] : ownSubjects,
  });
  await jsm.streams.update(stream, { sources: configured, subjects: ownSubjects });
  return [...stale];
}

/**
 * Checks sourced streams every `intervalMs` and restarts stale sources (see `resumeStaleSources`): a peer that
 * was away longer than nats-server's own source retry comes back faster with a nudge. A failed round (the peer
 * still away) is left for the next. Returns the function that stops the checks.
 *
 * @example
 * const stop = watchStaleSources([{ jsm, stream: "INBOX" }], 5_000, (stream, sources) => log(stream, sources));
 */
export function watchStaleSources(
  targets: readonly { jsm: JetStreamManager; stream: string }[],
  intervalMs: number,
  onResumed: (stream: string, sources: string[]) => void,
  options: { leader?: string } = {},
): () => void {
  const timer = setInterval(() => {
    for (const { jsm, stream } of targets) {
      resumeStaleSources(jsm, stream, options)
        .then((sources) => {
          if (sources.length > 0) onResumed(stream, sources);
        })
        .catch(() => undefined); // the next round tries again
    }
  }, intervalMs);
  return () => clearInterval(timer);
}

export function isApiError(error: unknown, code: number): boolean {
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
