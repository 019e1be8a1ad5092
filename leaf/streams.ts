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
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { baseStreamConfig, ensureStream, nanos, type StreamSpec } from "../common/index.js";
import { HUB_DOMAIN, isTreName, jsApiPrefix, streams, subjects } from "../protocol/index.js";

const DAY_MS = 86_400_000;

export interface LeafStreamsOptions {
  /** This leaf's TRE. */
  tre: string;
  /**
   * How long INBOX keeps a task, in ms. Default 14 days, as the hub's TASKS: the agent records what it has
   * handled in its own state, so INBOX is a buffer, not the record.
   */
  inboxMaxAgeMs?: number;
  /**
   * Window in which INBOX drops a repeated `Nats-Msg-Id` (a Dispatch or Cancel copied again), in ms. Default 10
   * minutes, as the hub's TASKS: a source that is restarted resumes from where the stream thinks it left off, and
   * may copy again what was in flight; the agent would refuse to run a task twice, but its INBOX holds it once.
   */
  inboxDuplicateWindowMs?: number;
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
    ...baseStreamConfig(),
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
    // Sourced messages keep their `Nats-Msg-Id`. TASKS dropped the hub's repeats; this drops the link's: a
    // restarted source copying a Dispatch again (seen in test/faults.test.ts after a hub restart).
    duplicate_window: nanos(options.inboxDuplicateWindowMs ?? 10 * 60_000, "inboxDuplicateWindowMs"),
  };
}

/** What leaves the TRE durably: released outputs and status events only. */
export function outboxStreamConfig(options: LeafStreamsOptions): StreamSpec {
  checkTre(options.tre);
  return {
    ...baseStreamConfig(),
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

function checkTre(tre: string): void {
  if (!isTreName(tre)) throw new RangeError(`\`tre\`: not a valid TRE name: ${JSON.stringify(tre)}`);
}
