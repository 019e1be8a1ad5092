/**
 * JetStream stream helpers shared by the hub and the leaf: idempotent create-or-update, restarting stale
 * sources, and the settings every tremesh stream shares.
 */
import {
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
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

/** JetStream's "stream name already in use": another instance created it between our info and add. */
const STREAM_NAME_IN_USE = 10058;

/** Adds the stream, or updates it to `config`; an immutable difference (storage, retention) is an error. */
export async function ensureStream(jsm: JetStreamManager, config: StreamSpec): Promise<StreamInfo> {
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
 */
export async function resumeStaleSources(
  jsm: JetStreamManager,
  stream: string,
  { staleAfterMs = 3_000 }: { staleAfterMs?: number } = {},
): Promise<string[]> {
  const info = await jsm.streams.info(stream);
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
): () => void {
  const timer = setInterval(() => {
    for (const { jsm, stream } of targets) {
      resumeStaleSources(jsm, stream)
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
