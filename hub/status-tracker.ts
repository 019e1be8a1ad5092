/**
 * Follows what the TREs send back: a durable consumer on the federation's view of every TRE's RESULTS stream,
 * handling the events of different children at once and each child's in the order they came. Each message is
 * verified (TRE key, type, subject); a StatusEvent moves that TRE's child state, a Release is kept for the
 * researcher; anything refused is acked away to a dead letter with its reason. A TRE's refusal of a Dispatch it never
 * received (signed by another hub key than it pins) ends only a child it has reported nothing of. Several hub
 * instances may share the consumer: state only moves forward and every event applies at most once, so order across
 * instances does not matter.
 *
 * The hub's record agrees with what was released: a child reaches `released`, `partially_released` or `withheld`
 * only when the TRE's verified Release that says so is stored. The Release carries that step itself
 * (`Release.status`). A StatusEvent claiming it before (or without) that Release is held back on the child with the
 * discrepancy stated, and applied when the Release arrives.
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

/**
 * A TRE's signed step (a StatusEvent, or the one a Release carries) as the child's history keeps it, under the
 * message's id, with the steps it passed on the way: each its own entry, with its own time, reason and actor.
 */
function childSteps(
  signer: string,
  step: Pick<
    VerifiedOf<"status">["body"],
    "id" | "iat" | "state" | "actor" | "reason" | "attempt" | "passed" | "mend"
  >,
): { event: ChildEvent; passed: ChildEvent[] } {
  const event: ChildEvent = {
    state: step.state,
    at: step.iat,
    actor: `${signer}/${step.actor}`,
    eventId: step.id,
    attempt: step.attempt ?? 1,
    ...(step.reason ? { reason: step.reason } : {}),
    ...(step.mend ? { mend: step.mend } : {}),
  };
  const { reason: _reason, mend: _mend, ...signed } = event;
  const passed = (step.passed ?? []).map(
    (p): ChildEvent => ({
      ...signed,
      state: p.state,
      at: p.at,
      eventId: `${step.id}/${p.state}`,
      ...(p.actor ? { actor: `${signer}/${p.actor}` } : {}),
      ...(p.reason ? { reason: p.reason } : {}),
    }),
  );
  return { event, passed };
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
    if (v.body.unpinnedHubKey) {
      const refused = await this.#refusesUnreceived(v);
      if (refused) return refused;
    }
    const { event, passed } = childSteps(v.signer.name, v.body);
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

  /**
   * A TRE's refusal of a Dispatch it did not receive, signed by another hub key than it pins
   * (`StatusEvent.unpinnedHubKey`): it ends only a child of which the TRE has reported nothing yet, as a `rejected`
   * that passed no step. Anything else is refused. The same event again (a redelivery, a replay) is left to the
   * checks every event has.
   */
  async #refusesUnreceived(v: VerifiedOf<"status">): Promise<Refusal | undefined> {
    const { taskId, tre, state, passed, id } = v.body;
    if (state !== "rejected" || (passed?.length ?? 0) > 0)
      return refusal(
        DeadLetterCode.malformed,
        `a refusal of an unreceived Dispatch is a rejected that passed no step, not ${state}`,
        "unpinnedHubKey",
      );
    const child = await this.opts.tasks.child(taskId, tre);
    if (!child || child.history.some((h) => h.eventId === id)) return undefined;
    if (child.history.some((h) => h.actor.startsWith(`${v.signer.name}/`)))
      return refusal(
        DeadLetterCode.alreadyReceived,
        `TRE ${tre} says it refused task ${taskId} without receiving it, but it has reported the task ${child.state}`,
        "unpinnedHubKey",
      );
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
   * What a stored Release writes on the hub's record, once per task and TRE: its record in the hub's audit log,
   * then the child's step to its outcome that the Release carries (`Release.status`), or, from a TRE that announces
   * that step in a StatusEvent of its own, a note that the record is written and the step if it was held back
   * waiting for this Release. For a copy of a Release stored before (at `storedAt`), nothing is written again when
   * the child's history has the Release's step (written after the record) or the note is there. The record is
   * appended under a key: a hub that stopped after appending it, before the step or the note, does not append it
   * twice, the audit log looking for it from the time the Release was stored.
   */
  async #recordReleased(v: VerifiedOf<"release">, { storedAt }: { storedAt?: number }): Promise<void> {
    const { taskId, tre, status } = v.body;
    if (storedAt !== undefined && (await this.#releaseRecorded(v))) {
      // A hub that stopped after the note, before applying a step held back for this Release, applies it now.
      if (!status) await this.#applyClaim(taskId, tre);
      return;
    }
    await this.opts.audit.append(
      {
        actor: v.signer.name,
        action: "release.received",
        taskId,
        tre,
        details: { outputs: v.body.outputs.length, withheld: v.body.withheld.length },
      },
      // Looked for from a second before the Release was stored: the hub's nodes' clocks may differ that much.
      {
        once: `release.received.${taskId}.${tre}`,
        ...(storedAt === undefined ? {} : { since: storedAt - 1_000 }),
      },
    );
    if (status) {
      const { event, passed } = childSteps(v.signer.name, {
        ...status,
        id: v.body.id,
        iat: v.body.iat,
        state: releaseOutcome(v.body),
      });
      const child = await this.opts.tasks.applyChildEvent(taskId, tre, event, passed);
      // A child that could not take the step (it ended at the hub first) keeps the note instead.
      if (!child) await this.opts.tasks.markReleaseAudited(taskId, tre);
      this.opts.onEvent?.({ type: "status", taskId, tre, state: event.state, applied: child !== undefined });
      return;
    }
    await this.opts.tasks.markReleaseAudited(taskId, tre);
    // A release status that arrived first (another hub instance, or a TRE out of order) now has its Release.
    await this.#applyClaim(taskId, tre);
  }

  /** Whether a stored Release's records are written: its step is in the child's history, or the note is there. */
  async #releaseRecorded(v: VerifiedOf<"release">): Promise<boolean> {
    const { taskId, tre } = v.body;
    if (v.body.status) {
      const child = await this.opts.tasks.child(taskId, tre);
      if (child?.history.some((h) => h.eventId === v.body.id)) return true;
    }
    return this.opts.tasks.releaseAudited(taskId, tre);
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
      // The stored Release again (a redelivery, or a copy its source sent again after a restart): its records may
      // not have been written (a hub that stopped between them), so they are now, once.
      if (same) await this.#recordReleased(v, { storedAt: first.created.getTime() });
      // A redelivery is nothing new; any other copy is a second Release, refused on the record.
      if (same && m.redelivered) return undefined;
      return refusal(
        DeadLetterCode.replayed,
        `TRE ${v.body.tre} already released task ${v.body.taskId}; the first Release stands`,
      );
    }
    this.#keepOutcome(v.body);
    await this.#recordReleased(v, {});
    this.opts.onEvent?.({
      type: "release",
      taskId: v.body.taskId,
      tre: v.body.tre,
      outputs: v.body.outputs.length,
    });
    return undefined;
  }
}
