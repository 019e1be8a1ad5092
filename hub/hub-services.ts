/**
 * The hub services of one instance, over one FED connection: submission, status tracking, the researcher
 * API (cancel, query) and liveness, plus their shared state (registry, task store, audit log, dead letters).
 * Stateless apart from JetStream, so several instances may run against the same hub at once: requests are
 * spread over queue groups, the status consumer is one shared durable, and every write is deduplicated or
 * compare-and-set. On start an instance completes any dispatch a crashed instance left half done.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { AuditLog, ensureAuditStream } from "../audit/index.js";
import {
  asError,
  ensureDeadLetterStream,
  ensureStream,
  openBucket,
  SourceRestarts,
  StopStack,
  setAccountReplicas,
  watchStaleSources,
  whilePlacing,
  whileStreamsSettle,
} from "../common/index.js";
import { openEnvelope, type SigningKey, streams, subjects } from "../protocol/index.js";
import { dispatchTask } from "./dispatcher.js";
import { HUB_DEFAULTS } from "./hub-defaults.js";
import { type LivenessEvent, LivenessTracker } from "./liveness-tracker.js";
import { Registry } from "./registry.js";
import { ResearcherApi, type ResearcherApiEvent } from "./researcher-api.js";
import { ResearcherDirectory } from "./researcher-directory.js";
import { RELEASE_BUCKET, StatusTracker, type StatusTrackerEvent } from "./status-tracker.js";
import { ensureFedStreams, fedResultsStreamConfig } from "./streams.js";
import { type SubmissionEvent, SubmissionService } from "./submission-service.js";
import { expireUntaken } from "./task-expiry.js";
import { type TaskRecord, TaskStore } from "./task-store.js";
import { TreDirectory, type TreMember } from "./tre-directory.js";

export type HubServiceEvent =
  | { service: "submission"; event: SubmissionEvent }
  | { service: "status"; event: StatusTrackerEvent }
  | { service: "researcher-api"; event: ResearcherApiEvent }
  | { service: "liveness"; event: LivenessEvent }
  | {
      service: "recovery";
      event:
        | { type: "redispatched"; taskId: string }
        | { type: "not_queued"; taskId: string; tre: string; reason: string }
        | { type: "error"; error: Error };
    }
  | {
      service: "expiry";
      event: { type: "expired"; taskId: string; tre: string } | { type: "error"; error: Error };
    }
  | { service: "sources"; event: { type: "resumed"; stream: string; sources: string[] } };

export interface HubServicesOptions {
  /** A FED connection; the services subscribe and publish through it. */
  nc: NatsConnection;
  /** The hub's signing key (its public key is pinned by every leaf). */
  hubKey: SigningKey;
  /**
   * The member TREs and their signing public keys (made inside the TRE): a live TreDirectory (operator mode:
   * `TreDirectory.watch`), or a fixed list (config mode; the same as `TreDirectory.fixed(list)`). Status, releases
   * and heartbeats are verified against its trust store as it is at that moment. The caller owns a directory it
   * passes (and closes it after `stop()`).
   */
  tres: TreDirectory | readonly TreMember[];
  /**
   * Copies of every FED stream and bucket: 1 on a lone hub, 3 on a clustered one. Default 1. Set the same on every
   * instance: each brings the streams to it on start.
   */
  replicas?: number;
  /**
   * How often this instance looks for tasks whose dispatch began at least this long ago and never completed (their
   * instance died, or a TASKS stream did not answer), and completes them, in ms. Default 5 000; 0 only on start.
   */
  recoveryIntervalMs?: number;
  /** Liveness threshold, in ms; see `LivenessTrackerOptions.offlineAfterMs`. Default 30 000. */
  offlineAfterMs?: number;
  /**
   * How long the TREs' TASKS streams keep a task, in ms, as the hub made them (hub.yaml `tasksMaxAgeMs`): a child
   * still `queued` after that ends `expired` (hub/task-expiry.ts). Default 14 days.
   */
  tasksMaxAgeMs?: number;
  /** How often this instance looks for such children, in ms. Default 60 000; 0 turns the look off. */
  expiryCheckIntervalMs?: number;
  /**
   * How often the FED results view's cross-account sources are checked and restarted when stale, in ms.
   * Default 2 000; 0 turns the check off (tests that drive it themselves).
   */
  sourceCheckIntervalMs?: number;
  /**
   * On a clustered hub, this node's server name: the FED view's sources are restarted only by the node leading it
   * (see `SourceRestarts`). Absent on a lone hub.
   */
  clusterNode?: string;
  /**
   * A manager of TRE `tre`'s hub account, when this node has one: a Dispatch its TASKS stream refuses for a
   * storage limit is answered with that limit's size, read through it. Absent: the limit is named without its size.
   */
  treJetStream?: (tre: string) => JetStreamManager | undefined;
  onEvent?: (e: HubServiceEvent) => void;
}

export interface HubServices {
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly registry: Registry;
  readonly tasks: TaskStore;
  readonly audit: AuditLog;
  readonly liveness: LivenessTracker;
  /** The member TREs the services work with. */
  readonly tres: TreDirectory;
  /**
   * Brings the FED view `TRE_RESULTS` to source exactly the current members' results streams, and restarts its
   * sources in error or stale: call it after the members change (and, for a new TRE, after its results stream
   * exists, so it is sourced at once). Calls run one at a time, in order.
   */
  syncTres(): Promise<void>;
  stop(): Promise<void>;
}

export async function startHubServices(opts: HubServicesOptions): Promise<HubServices> {
  const { nc, hubKey } = opts;
  const emit = opts.onEvent ?? (() => {});
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const directory = opts.tres instanceof TreDirectory ? opts.tres : TreDirectory.fixed(opts.tres);
  const replicas = opts.replicas ?? 1;
  const leaderOnly = opts.clusterNode === undefined ? {} : { leader: opts.clusterNode };
  // The FED view's sources are in this hub: always reachable; the restarts' memory is shared with the watch.
  const restarts = new SourceRestarts(leaderOnly);
  let syncing: Promise<unknown> = ensureFedView(jsm, directory.list(), replicas);
  await syncing;
  const syncTres = (): Promise<void> => {
    const run = async () => {
      await ensureFedView(jsm, directory.list(), replicas);
      // A source that failed before its results stream existed waits for nats-server's back-off otherwise.
      await restarts.check(jsm, streams.fedResults);
    };
    const next = syncing.then(run, run);
    syncing = next;
    return next;
  };
  await whilePlacing(() => ensureAuditStream(jsm, { scope: "hub", replicas }));
  await ensureDeadLetterStream(jsm, "hub", { replicas });
  const registry = await Registry.open(js);
  const tasks = await TaskStore.open(js);
  const audit = new AuditLog(js, { scope: "hub" });
  const treTrust = directory.trust;
  const researchers = await ResearcherDirectory.watch(registry);
  const releases = await openBucket(js, RELEASE_BUCKET, { history: 1 });

  const stops = new StopStack();
  stops.push(async () => researchers.close());
  try {
    const submission = await SubmissionService.start({
      nc,
      js,
      hubKey,
      registry,
      researchers,
      tasks,
      audit,
      ...(opts.treJetStream ? { treJetStream: opts.treJetStream } : {}),
      onEvent: (event) => emit({ service: "submission", event }),
    });
    stops.push(() => submission.stop());
    const status = await StatusTracker.start({
      js,
      jsm,
      stream: streams.fedResults,
      tasks,
      treTrust,
      audit,
      onEvent: (event) => emit({ service: "status", event }),
    });
    stops.push(() => status.stop());
    const liveness = await LivenessTracker.start({
      nc,
      js,
      treTrust,
      tres: () => directory.list(),
      audit,
      ...(opts.offlineAfterMs === undefined ? {} : { offlineAfterMs: opts.offlineAfterMs }),
      onEvent: (event) => emit({ service: "liveness", event }),
    });
    stops.push(() => liveness.stop());
    const api = await ResearcherApi.start({
      nc,
      js,
      hubKey,
      researchers,
      tasks,
      releases,
      liveness,
      audit,
      onEvent: (event) => emit({ service: "researcher-api", event }),
    });
    stops.push(() => api.stop());
    // The buckets the client library made with one copy (and never updates), and an unclustered start's streams.
    await setAccountReplicas(jsm, replicas);

    // A dispatch that a crashed instance (or a TASKS stream that did not answer) left half done: finish it, on
    // start and then every few seconds, whichever instance gets there (message ids make repeats harmless).
    const redispatch = async (pending: TaskRecord[]) => {
      for (const task of pending) {
        try {
          const envelope = await tasks.envelope(task.taskId);
          if (!envelope) continue;
          // Checked again: a researcher revoked since, or a submission expired since, is not dispatched.
          const opened = openEnvelope(envelope, { trust: researchers.trust, expect: "submission" });
          if (!opened.ok) continue;
          const notQueued = await dispatchTask(task, envelope, {
            js,
            hubKey,
            tasks,
            audit,
            ...(opts.treJetStream ? { treJetStream: opts.treJetStream } : {}),
            submissionExp: opened.value.body.exp,
          });
          for (const n of notQueued)
            emit({
              service: "recovery",
              event: { type: "not_queued", taskId: task.taskId, tre: n.tre, reason: n.error.message },
            });
          emit({ service: "recovery", event: { type: "redispatched", taskId: task.taskId } });
        } catch (e) {
          emit({
            service: "recovery",
            event: { type: "error", error: asError(e) },
          });
        }
      }
    };
    await redispatch(await whileStreamsSettle(() => tasks.undispatched()));
    await whileStreamsSettle(() => tasks.indexResearchers());
    const recoveryMs = opts.recoveryIntervalMs ?? HUB_DEFAULTS.recoveryIntervalMs;
    if (recoveryMs > 0) {
      let round: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        // A failed round (the store not answering) is left for the next.
        round = round
          .then(async () => redispatch(await tasks.pendingDispatch(recoveryMs)))
          .catch(() => undefined);
      }, recoveryMs);
      stops.push(async () => {
        clearInterval(timer);
        await round;
      });
    }

    const expiryMs = opts.expiryCheckIntervalMs ?? HUB_DEFAULTS.expiryCheckIntervalMs;
    if (expiryMs > 0) {
      const maxAgeMs = opts.tasksMaxAgeMs ?? HUB_DEFAULTS.tasksMaxAgeMs;
      let round: Promise<void> = Promise.resolve();
      const timer = setInterval(() => {
        round = round
          .then(async () => {
            for (const c of await expireUntaken(tasks, maxAgeMs))
              emit({ service: "expiry", event: { type: "expired", ...c } });
          })
          .catch((e: unknown) =>
            emit({
              service: "expiry",
              event: { type: "error", error: asError(e) },
            }),
          );
      }, expiryMs);
      stops.push(async () => {
        clearInterval(timer);
        await round;
      });
    }

    const interval = opts.sourceCheckIntervalMs ?? HUB_DEFAULTS.sourceCheckIntervalMs;
    if (interval > 0) {
      const stopWatch = watchStaleSources(
        [{ jsm, stream: streams.fedResults }],
        interval,
        (stream, sources) => emit({ service: "sources", event: { type: "resumed", stream, sources } }),
        restarts,
      );
      stops.push(async () => stopWatch());
    }

    return {
      js,
      jsm,
      registry,
      tasks,
      audit,
      liveness,
      tres: directory,
      syncTres,
      stop: () => stops.run(),
    };
  } catch (error) {
    await stops.run();
    throw error;
  }
}

/**
 * The FED view for these members. With none, the view holds a placeholder subject that nothing publishes on:
 * nats-server gives a stream with neither sources nor subjects a subject named after itself (`TRE_RESULTS`),
 * which any FED user could then write to.
 */
function ensureFedView(
  jsm: JetStreamManager,
  tres: readonly TreMember[],
  replicas: number,
): Promise<unknown> {
  const names = tres.map((t) => t.name);
  if (names.length > 0) return ensureFedStreams(jsm, { tres: names, replicas });
  return ensureStream(jsm, {
    ...fedResultsStreamConfig({ tres: [], replicas }),
    subjects: [subjects.sourceRestart(streams.fedResults)],
  });
}
