/**
 * Every transition of a task at this TRE leaves as a TRE-signed StatusEvent in OUTBOX (who, when, why), but the
 * release: the Release carries that step itself (`Release.status`). A StatusEvent has a message id per (TRE, task,
 * state, attempt) so a retry after a crash is stored once, while the same state in a later attempt of the task is a
 * new event. Steps not announced yet leave with the next one, in its `passed` (task-transitions.ts says when).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import {
  type ChildState,
  type Mend,
  newId,
  type SigningKey,
  type StatusEvent,
  sealEnvelope,
  subjects,
} from "../protocol/index.js";

const STATUS_LIFETIME_MS = 30 * 86_400_000;

/** A step announced with a later one (`StatusEvent.passed`); `actor` when not the event's. */
export interface PassedStep {
  state: ChildState;
  at: number;
  reason?: string;
  actor?: string;
  /**
   * Only on a `rejected` step that refused a Dispatch signed by another key than the pinned hub key
   * (hub-key-refusal.ts): the keys its StatusEvent names (`StatusEvent.unpinnedHubKey`). Never in a `passed`.
   */
  unpinnedHubKey?: StatusEvent["unpinnedHubKey"];
  /** Only on an end with nothing released: whose move it is (`StatusEvent.mend`). Never in a `passed`. */
  mend?: Mend;
}

/**
 * A step held back to be recorded with the next one, in one compare-and-set, and announced with it, in the Release
 * and one audit record (a task whose every output the airlock decided at hold: `Airlock.releaseAtHold`).
 */
export interface HeldStatus extends PassedStep {
  actor: string;
  attempt: number;
}

/**
 * Steps as an event that passed them carries them (a StatusEvent's `passed`, a Release's `status.passed`): each
 * reason within a status reason's 2000 characters, an actor only where it is not the event's own.
 */
export function passedSteps(passed: readonly PassedStep[], actor: string): PassedStep[] {
  return passed.map((p) => ({
    state: p.state,
    at: p.at,
    ...(p.reason ? { reason: p.reason.slice(0, 2000) } : {}),
    ...(p.actor && p.actor !== actor ? { actor: p.actor } : {}),
  }));
}

export class StatusPublisher {
  constructor(
    private readonly dmzJs: JetStreamClient,
    private readonly tre: string,
    private readonly key: SigningKey,
  ) {}

  async publish(
    taskId: string,
    state: ChildState,
    actor: string,
    reason?: string,
    now = Date.now(),
    attempt = 1,
    passed: readonly PassedStep[] = [],
    { unpinnedHubKey, mend }: Pick<StatusEvent, "unpinnedHubKey" | "mend"> = {},
  ): Promise<void> {
    const envelope = sealEnvelope(
      "status",
      {
        id: newId(now),
        iat: now,
        exp: now + STATUS_LIFETIME_MS,
        taskId,
        tre: this.tre,
        state,
        actor,
        ...(reason ? { reason: reason.slice(0, 2000) } : {}),
        // The first attempt's events are as they were before retries existed.
        ...(attempt > 1 ? { attempt } : {}),
        ...(passed.length > 0 ? { passed: passedSteps(passed, actor) } : {}),
        ...(unpinnedHubKey ? { unpinnedHubKey } : {}),
        ...(mend ? { mend } : {}),
      },
      this.key,
    );
    await this.dmzJs.publish(subjects.status(this.tre, taskId), envelope, {
      msgID: `status.${this.tre}.${taskId}.${state}${attempt > 1 ? `.${attempt}` : ""}`,
    });
  }
}
