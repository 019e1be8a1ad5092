/**
 * Follows what the TREs send back: a durable consumer on the federation's view of every TRE's RESULTS stream,
 * handling the events of different children at once and each child's in the order they came. Each message is
 * verified (TRE key, type, subject); a StatusEvent moves that TRE's child state, a Release is kept for the
 * researcher; anything refused is acked away to a dead letter with its reason. Several hub instances may share
 * the consumer: state only moves forward and every event applies at most once, so order across instances does
 * not matter.
 *
 * The hub's record agrees with what was released: a child reaches `released`, `partially_released` or `withheld`
 * only when the TRE's verified Release that says so is stored. A status claiming it before (or without) that
 * Release is held back on the child with the discrepancy stated, and applied when the Release arrives.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { match } from "ts-pattern";
import {
  type AuditSink,
  consumeSigned,
  keepRecent,
  openBucket,
  type SignedConsumer,
} from "../common/index.js";
import {
  DeadLetterCode,
  isReleaseOutcome,
  openEnvelope,
  openTaskMessage,
  parseTreSubject,
  type Refusal,
  type ReleaseOutcome,
  refusal,
  releaseOutcome,
  type TrustStore,
  type VerifiedOf,
} from "../protocol/index.js";
import { type ChildEvent, type TaskStore, UnknownTaskError } from "./task-store.js";

/** Released results, kept verbatim (signed) for the researcher: key `<taskId>.<tre>`. */
export const RELEASE_BUCKET = "RELEASES";

export type StatusTrackerEvent =
  | { type: "status"; taskId: string; tre: string; state: string; applied: boolean }
  | { type: "release"; taskId: string; tre: string; outputs: number }
  | { type: "discrepancy"; taskId: string; tre: string; discrepancy: string }
  | { type: "refused"; subject: string; code: string; reason: string }
  | { type: "error"; error: Error };

export interface StatusTrackerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The FED stream that sources every TRE's RESULTS. */
  stream: string;
  /** Durable consumer name shared by every hub instance. Default "hub-status". */
  durable?: string;
  tasks: TaskStore;
  /** The TREs' public keys (role `tre`, bound to their TRE). */
  treTrust: TrustStore;
  audit: AuditSink;
  onEvent?: (e: StatusTrackerEvent) => void;
}

/** Events the tracker handles at once (each mostly waits on a KV round trip, not on the CPU). */
const TRACKER_CONCURRENCY = 64;

/** The child an event belongs to (TRE and task), or the subject itself when it names none (refused anyway). */
function childKey(m: JsMsg): string {
  const where = parseTreSubject(m.subject);
  return where?.taskId === undefined ? m.subject : `${where.tre} ${where.taskId}`;
}

/** Outcomes of stored Releases the tracker keeps in memory (`#released`). */
const OUTCOMES_KEPT = 10_000;

export class StatusTracker {
  #consumer: SignedConsumer | undefined;
  /**
   * What the Releases this instance stored or read say, by `<taskId>.<tre>`, the oldest first: a stored Release
   * never changes (the first stands), and the TRE's release status that follows it need not read and verify it
   * again.
   */
  readonly #outcomes = new Map<string, ReleaseOutcome>();

  private constructor(
    private readonly opts: StatusTrackerOptions,
    private readonly releases: KV,
  ) {}

  static async start(opts: StatusTrackerOptions): Promise<StatusTracker> {
    const releases = await openBucket(opts.js, RELEASE_BUCKET, { history: 1 });
    const tracker = new StatusTracker(opts, releases);
    const emit = (e: StatusTrackerEvent) => opts.onEvent?.(e);
    tracker.#consumer = await consumeSigned({
      js: opts.js,
      jsm: opts.jsm,
      stream: opts.stream,
      durable: opts.durable ?? "hub-status",
      consumer: { max_ack_pending: 1000 },
      maxMessages: 256,
      // Events of different children at once: each write is a compare-and-set, so they cannot undo each other, and
      // the parent is re-derived once for many children (TaskStore.refreshParent). One child's status events and
      // Release stay in the order they came.
      concurrency: TRACKER_CONCURRENCY,
      orderKey: childKey,
      handle: (m) => tracker.#apply(m),
      refuser: { js: opts.js, scope: "hub", actor: "hub", audit: opts.audit, onRefused: emit },
      retryMessageAfterMs: 1000,
      onError: (error) => emit({ type: "error", error }),
    });
    return tracker;
  }

  async stop(): Promise<void> {
    await this.#consumer?.stop();
  }

  async #apply(m: JsMsg): Promise<Refusal | undefined> {
    const where = parseTreSubject(m.subject);
    if (where?.direction !== "out" || where.kind === "heartbeat") {
      return refusal(DeadLetterCode.wrongSubject, `not a TRE result subject: ${m.subject}`);
    }
    const opened = await openTaskMessage(where, m.subject, m.data, {
      trust: this.opts.treTrust,
      allowExpired: true, // stored events are facts even when read after their expiry (a hub down for days)
    });
    if (!opened.ok) return opened.error;
    const v = opened.value;
    const tres = await this.opts.tasks.tresOf(v.body.taskId);
    if (!tres) return refusal(DeadLetterCode.unknownTask, `no task ${v.body.taskId}`);
    if (!tres.includes(v.body.tre)) {
      return refusal(
        DeadLetterCode.wrongTre,
        `task ${v.body.taskId} was not sent to TRE ${v.body.tre}`,
        "tre",
      );
    }
    try {
      return await match(v)
        .with({ type: "status" }, (status) => this.#onStatus(m, status))
        .with({ type: "release" }, (release) => this.#onRelease(m, release))
        .exhaustive();
    } catch (e) {
      // The task's TREs are known from memory, but its records are gone: refused like a task never seen, not
      // retried for ever. Any other failure is ours, and the message comes again.
      if (e instanceof UnknownTaskError) return refusal(DeadLetterCode.unknownTask, e.message);
      throw e;
    }
  }

  async #onStatus(m: JsMsg, v: VerifiedOf<"status">): Promise<Refusal | undefined> {
    const event: ChildEvent = {
      state: v.body.state,
      at: v.body.iat,
      actor: `${v.signer.name}/${v.body.actor}`,
      eventId: v.body.id,
      attempt: v.body.attempt ?? 1,
      ...(v.body.reason ? { reason: v.body.reason } : {}),
    };
    // Steps announced together with this one: each its own history entry, with its own time, reason and actor.
    const { reason: _reason, ...signed } = event;
    const passed = (v.body.passed ?? []).map(
      (step): ChildEvent => ({
        ...signed,
        state: step.state,
        at: step.at,
        eventId: `${v.body.id}/${step.state}`,
        ...(step.actor ? { actor: `${v.signer.name}/${step.actor}` } : {}),
        ...(step.reason ? { reason: step.reason } : {}),
      }),
    );
    if (isReleaseOutcome(event.state) && (await this.#released(v.body.taskId, v.body.tre)) !== event.state) {
      // The steps before it need no Release: they are recorded now, and only the claim is held back.
      const before = passed.at(-1);
      if (before)
        await this.opts.tasks.applyChildEvent(v.body.taskId, v.body.tre, before, passed.slice(0, -1));
      await this.#holdClaim(v.body.taskId, v.body.tre, event);
      return undefined;
    }
    const child = await this.opts.tasks.applyChildEvent(v.body.taskId, v.body.tre, event, passed);
    // The same signed event stored again (not a redelivery of this message): a replay, refused on the record.
    // An event that cannot follow the child's state, and is not a late report of a step it passed, is dropped.
    if (!child && !m.redelivered) {
      const now = await this.opts.tasks.child(v.body.taskId, v.body.tre);
      if (now?.history.some((h) => h.eventId === v.body.id))
        return refusal(DeadLetterCode.replayed, `status ${v.body.id} was already applied`, "id");
    }
    this.opts.onEvent?.({
      type: "status",
      taskId: v.body.taskId,
      tre: v.body.tre,
      state: v.body.state,
      applied: child !== undefined,
    });
    return undefined;
  }

  /** What the stored Release of the task from `tre` says, if one is stored. */
  async #released(taskId: string, tre: string): Promise<ReleaseOutcome | undefined> {
    const known = this.#outcomes.get(`${taskId}.${tre}`);
    if (known) return known;
    const e = await this.releases.get(`${taskId}.${tre}`);
    if (e?.operation !== "PUT") return undefined;
    // Verified when it was stored; opened again only to read it.
    const opened = openEnvelope(e.value, {
      trust: this.opts.treTrust,
      expect: "release",
      tre,
      allowExpired: true,
    });
    if (!opened.ok) return undefined;
    this.#keepOutcome(opened.value.body);
    return releaseOutcome(opened.value.body);
  }

  #keepOutcome(release: VerifiedOf<"release">["body"]): void {
    keepRecent(this.#outcomes, `${release.taskId}.${release.tre}`, releaseOutcome(release), OUTCOMES_KEPT);
  }

  /**
   * A release status the stored Releases do not back. With no Release yet: held back on the child, the gap stated.
   * With a Release that says otherwise: the child follows the Release, and its history says what the TRE claimed.
   */
  async #holdClaim(taskId: string, tre: string, event: ChildEvent): Promise<void> {
    const stored = await this.#released(taskId, tre);
    const discrepancy =
      stored === undefined
        ? `TRE ${tre} reported ${event.state}, but the hub holds no Release of this task from it`
        : `TRE ${tre} reported ${event.state}, but its Release says ${stored}`;
    const recorded =
      stored === undefined
        ? await this.opts.tasks.holdClaim(taskId, tre, event, discrepancy)
        : (await this.opts.tasks.applyChildEvent(taskId, tre, {
            ...event,
            state: stored,
            reason: `${discrepancy}; the hub follows the Release`,
          })) !== undefined;
    if (!recorded) return;
    await this.opts.audit.append({
      actor: "hub",
      action: "status.unconfirmed",
      taskId,
      tre,
      details: { state: event.state, reason: discrepancy },
    });
    this.opts.onEvent?.({ type: "discrepancy", taskId, tre, discrepancy });
    // The Release may have been stored meanwhile, its handler finding no claim yet: look again.
    if (stored === undefined) await this.#applyClaim(taskId, tre);
  }

  /** Applies a held-back release status once the stored Release backs it. */
  async #applyClaim(taskId: string, tre: string): Promise<void> {
    const claim = (await this.opts.tasks.child(taskId, tre))?.claim;
    if (claim && (await this.#released(taskId, tre)) === claim.state)
      await this.opts.tasks.applyChildEvent(taskId, tre, claim);
  }

  /**
   * The Release's record in the hub's audit log, once per task and TRE: for a copy of a Release stored `before`,
   * skipped when the task's store says it is written; otherwise appended under a key that JetStream keeps for its
   * duplicate window (a hub that stopped after appending, before noting it, does not append it twice), then noted.
   */
  async #auditReceived(v: VerifiedOf<"release">, { before }: { before: boolean }): Promise<void> {
    const { taskId, tre } = v.body;
    if (before && (await this.opts.tasks.releaseAudited(taskId, tre))) return;
    await this.opts.audit.append(
      {
        actor: v.signer.name,
        action: "release.received",
        taskId,
        tre,
        details: { outputs: v.body.outputs.length, withheld: v.body.withheld.length },
      },
      { once: `release.received.${taskId}.${tre}` },
    );
    await this.opts.tasks.markReleaseAudited(taskId, tre);
  }

  async #onRelease(m: JsMsg, v: VerifiedOf<"release">): Promise<Refusal | undefined> {
    // A TRE releases a task at most once: the first Release stands.
    const key = `${v.body.taskId}.${v.body.tre}`;
    try {
      await this.releases.create(key, m.data);
    } catch (e) {
      const first = await this.releases.get(key);
      if (!first) throw e;
      const same = Buffer.from(first.value).equals(m.data);
      // The stored Release again (a redelivery, or a copy its source sent again after a restart): its record may
      // not have been written (a hub that stopped between the two), so it is now, once.
      if (same) await this.#auditReceived(v, { before: true });
      // A redelivery is nothing new; any other copy is a second Release, refused on the record.
      if (same && m.redelivered) {
        await this.#applyClaim(v.body.taskId, v.body.tre);
        return undefined;
      }
      return refusal(
        DeadLetterCode.replayed,
        `TRE ${v.body.tre} already released task ${v.body.taskId}; the first Release stands`,
      );
    }
    this.#keepOutcome(v.body);
    await this.#auditReceived(v, { before: false });
    // A release status that arrived first (another hub instance, or a TRE out of order) now has its Release.
    await this.#applyClaim(v.body.taskId, v.body.tre);
    this.opts.onEvent?.({
      type: "release",
      taskId: v.body.taskId,
      tre: v.body.tre,
      outputs: v.body.outputs.length,
    });
    return undefined;
  }
}
