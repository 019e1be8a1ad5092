/**
 * A TRE leaf's durable JetStream topology in its DMZ account, created or brought up to date on every start
 * (idempotent):
 *
 * - `INBOX`: no subjects of its own; sources the hub's `TASKS` stream (the TRE's account, `hub` domain) across
 *   the leaf link, so tasks dispatched while the TRE was offline arrive when it returns;
 * - `OUTBOX`: the TRE's status events and releases (`subjects.outboxFilters`), kept here while the hub is
 *   unreachable; the hub sources it into `RESULTS_<tre>`. Heartbeats stay core NATS and are not captured.
 *
 * What the hub may do with these across the link is limited by `leafLinkBoundary` (server-config.ts).
 *
 * @example
 * await ensureLeafStreams(await jetstreamManager(dmzConnection), { tre: "a" });
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
import { HUB_DOMAIN, isTreName, jsApiPrefix, streams, subjects } from "../protocol/index.js";

const DAY_MS = 86_400_000;

/** A stream configuration as tremesh sets it: the fields it decides, the server's defaults for the rest. */
export type StreamSpec = Partial<StreamConfig> & Pick<StreamConfig, "name">;

export interface LeafStreamsOptions {
  /** This leaf's TRE. */
  tre: string;
  /**
   * How long INBOX keeps a task, in ms. Default 14 days, as the hub's TASKS: the agent records what it has
   * handled in its own state, so INBOX is a buffer, not the record.
   */
  inboxMaxAgeMs?: number;
  /**
   * How long OUTBOX keeps a status event or release, in ms. Default 14 days: the hub may be unreachable for
   * days, and whatever is still here when it returns is delivered then.
   */
  outboxMaxAgeMs?: number;
  /**
   * Window in which OUTBOX drops a repeated `Nats-Msg-Id`, in ms. Default 10 minutes: covers the agent's
   * retries after a crash. Message ids must include the TRE name (the hub's FED view mixes every TRE's).
   */
  outboxDuplicateWindowMs?: number;
}

/** The leaf's own copy of its tasks: a source of the hub's TASKS, filtered to this TRE's inbound subjects. */
export function inboxStreamConfig(options: LeafStreamsOptions): StreamSpec {
  checkTre(options.tre);
  return {
    ...baseConfig(),
    name: streams.inbox,
    description: `Tasks for TRE ${options.tre}, sourced from the hub's TASKS`,
    subjects: [],
    sources: [
      {
        name: streams.tasks,
        // The consumer runs on the hub, so this filter is the hub's promise, not the TRE's guard: the agent
        // still verifies every task's signature and TRE.
        filter_subject: subjects.treInbound(options.tre),
        external: { api: jsApiPrefix(HUB_DOMAIN) },
      },
    ],
    max_age: nanos(options.inboxMaxAgeMs ?? 14 * DAY_MS, "inboxMaxAgeMs"),
    // The hub's TASKS already dropped duplicates; INBOX only needs the smallest window nats-server allows.
    duplicate_window: nanos(100, "duplicate window"),
  };
}

/** What leaves the TRE durably: released outputs and status events only. */
export function outboxStreamConfig(options: LeafStreamsOptions): StreamSpec {
  checkTre(options.tre);
  return {
    ...baseConfig(),
    name: streams.outbox,
    description: `Status events and releases of TRE ${options.tre}; the hub sources them`,
    subjects: subjects.outboxFilters(options.tre),
    max_age: nanos(options.outboxMaxAgeMs ?? 14 * DAY_MS, "outboxMaxAgeMs"),
    duplicate_window: nanos(options.outboxDuplicateWindowMs ?? 10 * 60_000, "outboxDuplicateWindowMs"),
  };
}

/**
 * Creates or updates INBOX and OUTBOX. `jsm` must be connected to the leaf as a DMZ user. Safe on every start,
 * and with the hub unreachable (INBOX then catches up once the link is back).
 */
export async function ensureLeafStreams(
  jsm: JetStreamManager,
  options: LeafStreamsOptions,
): Promise<{ inbox: StreamInfo; outbox: StreamInfo }> {
  const inbox = await ensureStream(jsm, inboxStreamConfig(options));
  const outbox = await ensureStream(jsm, outboxStreamConfig(options));
  return { inbox, outbox };
}

function baseConfig(): Pick<StreamConfig, "retention" | "storage" | "discard" | "num_replicas"> {
  // Limits, never WorkQueue or Interest: no consumer's ack can remove a task or a result. File storage:
  // both survive a restart of the leaf.
  return {
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: 1,
  };
}

/** JetStream's "stream name already in use": another process created it between our info and add. */
const STREAM_NAME_IN_USE = 10058;

/** Adds the stream, or updates it to `config`; an immutable difference (storage, retention) is an error. */
async function ensureStream(jsm: JetStreamManager, config: StreamSpec): Promise<StreamInfo> {
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

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

function checkTre(tre: string): void {
  if (!isTreName(tre)) throw new RangeError(`\`tre\`: not a valid TRE name: ${JSON.stringify(tre)}`);
}

/** JetStream durations are nanoseconds; past ~104 days they no longer fit a safe integer. */
function nanos(ms: number, field: string): number {
  const ns = ms * 1_000_000;
  if (!Number.isSafeInteger(ns) || ns < 0) {
    throw new RangeError(`\`${field}\`: ${ms} ms is not a whole, non-negative duration below ~104 days`);
  }
  return ns;
}
