/**
 * The hub's durable JetStream topology, created or brought up to date on every start (idempotent):
 *
 * - in each TRE's account, `TASKS` (what the hub dispatches to that TRE; the TRE's leaf sources it into its
 *   INBOX) and `RESULTS_<tre>` (the leaf's OUTBOX, sourced across the leaf link);
 * - in FED, `TRE_RESULTS`: every TRE's results stream sourced across accounts, the one stream the hub
 *   services consume status events and releases from.
 *
 * The cross-account plumbing these sources use is declared in `hubAccountFlows` (server-config.ts); the
 * leaf's side in leaf/streams.ts.
 *
 * @example
 * await ensureTreStreams(await jetstreamManager(treAdminConnection), { tre: "a" });
 * await ensureFedStreams(await jetstreamManager(fedConnection), { tres: ["a", "b"] });
 */
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream";
import { baseStreamConfig, ensureStream, nanos, type StreamSpec } from "../common/index.js";
import { isTreName, streams, subjects } from "../protocol/index.js";

const DAY_MS = 86_400_000;

export interface TreStreamsOptions {
  /** The TRE whose account the JetStreamManager is connected to. */
  tre: string;
  /**
   * How long TASKS keeps a task, in ms. Default 14 days: a TRE may be offline for days, and its leaf collects
   * whatever is still there when it returns (a task's own expiry decides whether it still runs).
   */
  tasksMaxAgeMs?: number;
  /**
   * Window in which TASKS drops a repeated `Nats-Msg-Id`, in ms. Default 10 minutes: long enough to cover a
   * dispatcher's retries after a crash or a second hub instance doing the same work.
   */
  tasksDuplicateWindowMs?: number;
  /**
   * How long `RESULTS_<tre>` keeps the TRE's status events and releases, in ms. Default 30 days: the hub
   * services copy what must outlive that into their own state.
   */
  resultsMaxAgeMs?: number;
  /** Copies of each stream: 1 on a lone hub, 3 on a clustered one. Default 1. */
  replicas?: number;
}

export interface FedStreamsOptions {
  /**
   * Every member TRE, as in the hub config: the view sources exactly these (a TRE added later is added, one
   * left out is removed). Each needs its flows in the hub config, or its source never connects.
   */
  tres: readonly string[];
  /** How long the FED view keeps status events and releases, in ms. Default 30 days, as `resultsMaxAgeMs`. */
  maxAgeMs?: number;
  /** Copies of the view: 1 on a lone hub, 3 on a clustered one. Default 1. */
  replicas?: number;
}

/**
 * Sourced streams keep the original `Nats-Msg-Id` and dedupe on it again. A restarted source copies again what
 * was in flight when it stopped, so `RESULTS_<tre>` drops repeats for as long as TASKS does (10 minutes): only
 * that TRE's messages reach it, so a TRE can only ever suppress its own. The FED view keeps nats-server's smallest
 * window (100 ms): there ids from different TREs meet, and a TRE that wrote another TRE's future message id would
 * otherwise suppress that TRE's real message. The hub services apply each event and Release at most once anyway.
 */
const RESULTS_DUPLICATE_WINDOW_MS = 10 * 60_000;
const VIEW_DUPLICATE_WINDOW_MS = 100;

/** The TASKS stream of one TRE's account. */
export function tasksStreamConfig(options: TreStreamsOptions): StreamSpec {
  checkTre(options.tre, "tre");
  const maxAgeMs = options.tasksMaxAgeMs ?? 14 * DAY_MS;
  return {
    ...baseStreamConfig(),
    name: streams.tasks,
    description: `Tasks for TRE ${options.tre}; its leaf sources them into INBOX`,
    subjects: [subjects.treInbound(options.tre)],
    max_age: nanos(maxAgeMs, "tasksMaxAgeMs"),
    // JetStream refuses a duplicate window longer than the stream keeps messages.
    duplicate_window: nanos(
      Math.min(options.tasksDuplicateWindowMs ?? 10 * 60_000, maxAgeMs),
      "tasksDuplicateWindowMs",
    ),
    num_replicas: options.replicas ?? 1,
  };
}

/** The results stream of one TRE's account: its leaf's OUTBOX, sourced across the leaf link. */
export function resultsStreamConfig(options: TreStreamsOptions): StreamSpec {
  checkTre(options.tre, "tre");
  return {
    ...baseStreamConfig(),
    name: streams.results(options.tre),
    description: `Status events and releases of TRE ${options.tre}, sourced from its leaf's OUTBOX`,
    subjects: [],
    sources: [
      {
        name: streams.outbox,
        // Not `domain`: the leaf answers exactly one API call from the hub, on this prefix (leafLinkBoundary).
        external: { api: subjects.outboxSourceApi(options.tre) },
      },
    ],
    max_age: nanos(options.resultsMaxAgeMs ?? 30 * DAY_MS, "resultsMaxAgeMs"),
    duplicate_window: nanos(RESULTS_DUPLICATE_WINDOW_MS, "duplicate window"),
    num_replicas: options.replicas ?? 1,
  };
}

/** The FED view: every TRE's results stream, each source filtered to that TRE's own outbound subjects. */
export function fedResultsStreamConfig(options: FedStreamsOptions): StreamSpec {
  for (const [i, tre] of options.tres.entries()) checkTre(tre, `tres[${i}]`);
  if (new Set(options.tres).size !== options.tres.length) {
    throw new RangeError("`tres`: a TRE appears twice");
  }
  return {
    ...baseStreamConfig(),
    name: streams.fedResults,
    description: "Status events and releases of every TRE, sourced from each TRE account's results stream",
    subjects: [],
    sources: options.tres.map((tre) => ({
      name: streams.results(tre),
      // The consumer runs in the TRE's account on the hub, so this filter holds even against a leaf that
      // writes other TREs' subjects into its own OUTBOX.
      filter_subject: subjects.treOutbound(tre),
      external: { api: subjects.fedSourceApi(tre), deliver: subjects.fedSourceDeliver(tre) },
    })),
    max_age: nanos(options.maxAgeMs ?? 30 * DAY_MS, "maxAgeMs"),
    duplicate_window: nanos(VIEW_DUPLICATE_WINDOW_MS, "duplicate window"),
    num_replicas: options.replicas ?? 1,
  };
}

/**
 * Creates or updates TASKS and `RESULTS_<tre>` in one TRE's hub account. `jsm` must be connected as a user of
 * that account (e.g. the hub's admin user for the TRE). Safe on every start.
 */
export async function ensureTreStreams(
  jsm: JetStreamManager,
  options: TreStreamsOptions,
): Promise<{ tasks: StreamInfo; results: StreamInfo }> {
  const tasks = await ensureStream(jsm, tasksStreamConfig(options));
  const results = await ensureStream(jsm, resultsStreamConfig(options));
  return { tasks, results };
}

/**
 * Creates or updates the FED view `TRE_RESULTS`. `jsm` must be connected as a FED user. Safe on every start.
 * Call it after `ensureTreStreams`: a source whose results stream does not exist yet only retries on nats-server's
 * back-off (or when the services' `SourceRestarts` restart it).
 */
export async function ensureFedStreams(
  jsm: JetStreamManager,
  options: FedStreamsOptions,
): Promise<StreamInfo> {
  return ensureStream(jsm, fedResultsStreamConfig(options));
}

function checkTre(tre: string, field: string): void {
  if (!isTreName(tre)) throw new RangeError(`\`${field}\`: not a valid TRE name: ${JSON.stringify(tre)}`);
}
