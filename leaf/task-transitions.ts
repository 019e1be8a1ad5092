/**
 * Every transition of a task at this TRE, recorded and then announced: compare-and-set in the agent's state
 * (a step of the child life cycle, or a `ChildTransitionError`), then a record in the TRE's audit log (written at
 * once) and a TRE-signed StatusEvent in OUTBOX (for a release, the Release itself), and an event for the process.
 *
 * A task's progress on the way (received, accepted, running) is announced with its next step, or on its own once it
 * has waited `progressDelayMs`: a task that ends sooner leaves the TRE as one message, its Release or its last
 * StatusEvent, which carries those steps in its `passed`, each with its time and reason. Its end, and a wait for a
 * reviewer, are announced at once. The TRE's own records never wait.
 */
import { type AuditEntry, auditLimits, auditList } from "../audit/index.js";
import { type AuditSink, asError, KeyedChain } from "../common/index.js";
import { type ChildState, isSettled, MAX_PASSED, type Mend } from "../protocol/index.js";
import { type AgentState, type AgentTask, attemptOf } from "./agent-state.js";
import type { PassedStep, StatusPublisher } from "./status-publisher.js";

/** Steps a task takes on its way that the researcher may learn of with the next one. */
const PROGRESS: ReadonlySet<ChildState> = new Set(["received", "accepted", "running"]);

/** Steps recorded and audited, waiting to be announced: all of one attempt, each with its actor. */
interface Unannounced {
  steps: PassedStep[];
  attempt: number;
  timer: NodeJS.Timeout;
}

/** What a task's Release needs of its announcements (`TaskTransitions`): see the methods there. */
export interface ReleaseAnnouncements {
  unannounced(taskId: string, attempt: number): readonly PassedStep[];
  releasing(taskId: string, send: () => Promise<unknown>): Promise<void>;
  released(
    taskId: string,
    steps: readonly PassedStep[],
    actor: string,
    attempt: number | undefined,
  ): Promise<void>;
}

/** The agent, as its records and status events name it. */
export const AGENT_ACTOR = "agent";

export interface TaskTransitionsOptions {
  state: AgentState;
  status: StatusPublisher;
  audit: AuditSink;
  /** Each announced transition, for the process. */
  onTransition: (taskId: string, state: ChildState, reason: string | undefined) => void;
  /** How long progress steps wait to be announced with a later step, in ms (`LEAF_DEFAULTS.progressDelayMs`). */
  progressDelayMs: number;
  /** A StatusEvent could not be sent (its steps are tried again after `progressDelayMs`). */
  onError: (taskId: string, error: Error) => void;
  now: () => number;
}

export class TaskTransitions implements ReleaseAnnouncements {
  readonly #waiting = new Map<string, Unannounced>();
  /** Each task's StatusEvents and Release leave in the order they were announced. */
  readonly #sends = new KeyedChain();
  /** The agent is stopping (`announceWaiting`): steps that fail to leave now do not wait again. */
  #stopping = false;

  constructor(private readonly o: TaskTransitionsOptions) {}

  /**
   * Moves the task to `state` if `allowed(current)` (by default: the agent's part is not settled yet) and
   * announces it, with whose move it is after an end (`mend`); undefined when the task had moved on already.
   */
  async record(
    taskId: string,
    state: ChildState,
    reason?: string,
    allowed: (current: ChildState) => boolean = (s) => !isSettled(s),
    mend?: Mend,
  ): Promise<AgentTask | undefined> {
    const moved = await this.#move(taskId, state, reason, allowed, mend);
    if (!moved) return undefined;
    await this.#announce(taskId, [moved.step], AGENT_ACTOR, attemptOf(moved.task));
    return moved.task;
  }

  /** Announces a transition already recorded (by a claim's cancel), as part of the attempt the task's record is at. */
  async announce(taskId: string, state: ChildState, reason: string | undefined, at: number): Promise<void> {
    const run = attemptOf((await this.o.state.get(taskId)) ?? {});
    await this.#announce(taskId, [{ state, at, ...(reason ? { reason } : {}) }], AGENT_ACTOR, run);
  }

  /** The steps of the task's `attempt` recorded but not announced yet: its Release carries them in `passed`. */
  unannounced(taskId: string, attempt: number): readonly PassedStep[] {
    const waiting = this.#waiting.get(taskId);
    return waiting?.attempt === attempt ? [...waiting.steps] : [];
  }

  /**
   * Sends the task's Release after the StatusEvents announced before it. The steps waiting are the Release's to
   * announce (it was built with them, `unannounced`), so they no longer leave on their own.
   */
  releasing(taskId: string, send: () => Promise<unknown>): Promise<void> {
    this.#take(taskId);
    return this.#sends.run(taskId, async () => void (await send()));
  }

  /**
   * After a restart: the steps of the attempt the task's record is at, announced again in one StatusEvent, since
   * those that waited died with the process. None is written twice at the hub: a copy inside OUTBOX's duplicate
   * window is dropped by its message id, and a later one finds no step ahead of the child there.
   */
  async announceRecorded(task: AgentTask): Promise<void> {
    const run = attemptOf(task);
    const steps = task.history
      .filter((h) => attemptOf(h) === run)
      .map(({ state, at, reason, actor, mend }) => ({
        state,
        at,
        actor,
        ...(reason ? { reason } : {}),
        ...(mend ? { mend } : {}),
      }));
    if (steps.length > 0) await this.#send(task.taskId, steps, run);
  }

  /** Sends every waiting step now, once: when the agent stops. What fails is reported, and not tried again. */
  async announceWaiting(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#waiting.keys()].map((taskId) => this.#sendWaiting(taskId)));
  }

  /**
   * The steps a sent Release announced itself (`Release.status`; the airlock recorded them): one audit record, as
   * part of `attempt` (by default the attempt the task's record is at), and each step's event for the process. No
   * StatusEvent: the Release is it.
   */
  async released(
    taskId: string,
    steps: readonly PassedStep[],
    actor: string,
    attempt: number | undefined,
  ): Promise<void> {
    const run = attempt ?? attemptOf((await this.o.state.get(taskId)) ?? {});
    await this.o.audit.append(transitionRecord(taskId, steps, actor, run));
    this.#told(taskId, steps);
  }

  /**
   * Announces the steps a task's claim recorded at once (received, and accepted or rejected, and running when a
   * slot was free; or only `rejected`, with the keys it names, for a Dispatch signed by another key than the pinned
   * hub key), at its first attempt: one audit record, and a StatusEvent with the earlier steps in its `passed` for a
   * refusal, while an accepted task's steps wait for its next.
   */
  announceClaim(taskId: string, steps: readonly PassedStep[]): Promise<void> {
    return this.#announce(taskId, steps, AGENT_ACTOR, 1);
  }

  async #move(
    taskId: string,
    state: ChildState,
    reason: string | undefined,
    allowed: (current: ChildState) => boolean,
    mend: Mend | undefined,
  ): Promise<{ task: AgentTask; step: PassedStep } | undefined> {
    const at = this.o.now();
    const step = { state, at, ...(reason ? { reason } : {}), ...(mend ? { mend } : {}) };
    const task = await this.o.state.transition(taskId, { ...step, actor: AGENT_ACTOR }, allowed);
    return task ? { task, step } : undefined;
  }

  /**
   * One audit record for `steps`, and one StatusEvent (the last, the others and any still waiting in its `passed`),
   * or, for progress, `steps` wait for the next; then each step's event for the process.
   */
  async #announce(taskId: string, steps: readonly PassedStep[], actor: string, run: number): Promise<void> {
    const last = steps.at(-1);
    if (!last) return;
    const mine = steps.map((s) => ({ ...s, actor }));
    // Two stores, neither waiting for the other: both are written before the task moves on.
    await Promise.all([
      PROGRESS.has(last.state) ? this.#wait(taskId, mine, run) : this.#publish(taskId, mine, run),
      this.o.audit.append(transitionRecord(taskId, steps, actor, run)),
    ]);
    this.#told(taskId, steps);
  }

  /** Progress steps wait to be announced with the next step, after any steps of the same attempt waiting. */
  async #wait(taskId: string, steps: readonly PassedStep[], run: number): Promise<void> {
    const { earlier, sent } = this.#takeWaiting(taskId, run);
    this.#keep(taskId, [...earlier, ...steps], run);
    await sent;
  }

  /**
   * One StatusEvent for `steps` of attempt `run`, carrying the steps waiting of the same attempt before them. One that
   * cannot be sent (OUTBOX full, its server away) is reported, and its steps wait to be tried again like progress
   * does: they are recorded and audited already, and the hub must still learn of them, an end above all.
   */
  async #publish(taskId: string, steps: readonly PassedStep[], run: number): Promise<void> {
    const { earlier, sent } = this.#takeWaiting(taskId, run);
    const all = [...earlier, ...steps];
    await Promise.all([
      sent,
      this.#send(taskId, all, run).catch((e: unknown) => this.#waitAgain(taskId, all, run, e)),
    ]);
  }

  /**
   * Takes the steps waiting before attempt `run`'s next: its own (`earlier`) to go with it, or an earlier attempt's,
   * sent first in a StatusEvent of their own (`sent`); that one failing is reported, not thrown, since this
   * attempt's events supersede them at the hub.
   */
  #takeWaiting(taskId: string, run: number): { earlier: PassedStep[]; sent: Promise<void> } {
    const waiting = this.#take(taskId);
    if (!waiting || waiting.attempt === run)
      return { earlier: waiting?.steps ?? [], sent: Promise.resolve() };
    const sent = this.#send(taskId, waiting.steps, waiting.attempt).catch((e: unknown) =>
      this.o.onError(taskId, asError(e)),
    );
    return { earlier: [], sent };
  }

  /** Sends the steps waiting now; if that fails, they wait again (`#waitAgain`). */
  async #sendWaiting(taskId: string): Promise<void> {
    const waiting = this.#take(taskId);
    if (!waiting) return;
    await this.#send(taskId, waiting.steps, waiting.attempt).catch((e: unknown) =>
      this.#waitAgain(taskId, waiting.steps, waiting.attempt, e),
    );
  }

  /** Steps that failed to leave wait again, before any of theirs that came meanwhile (a later attempt's replace them). */
  #waitAgain(taskId: string, steps: PassedStep[], attempt: number, error: unknown): void {
    this.o.onError(taskId, asError(error));
    if (this.#stopping) return;
    const later = this.#take(taskId);
    if (later && later.attempt !== attempt) this.#keep(taskId, later.steps, later.attempt);
    else this.#keep(taskId, [...steps, ...(later?.steps ?? [])], attempt);
  }

  /** `steps` wait, and leave on their own after `progressDelayMs` unless a later step takes them first. */
  #keep(taskId: string, steps: PassedStep[], attempt: number): void {
    const timer = setTimeout(() => void this.#sendWaiting(taskId), this.o.progressDelayMs);
    timer.unref(); // a stopping agent sends them itself (`announceWaiting`)
    this.#waiting.set(taskId, { steps, attempt, timer });
  }

  #take(taskId: string): Unannounced | undefined {
    const waiting = this.#waiting.get(taskId);
    if (!waiting) return undefined;
    clearTimeout(waiting.timer);
    this.#waiting.delete(taskId);
    return waiting;
  }

  /**
   * The StatusEvent of `steps` (the last one, with the others in its `passed`, the latest that fit), after the
   * task's earlier ones.
   */
  #send(taskId: string, steps: readonly PassedStep[], run: number): Promise<void> {
    const last = steps.at(-1)!; // never empty: every caller has at least one step
    const actor = last.actor ?? AGENT_ACTOR;
    const passed = steps.slice(-(MAX_PASSED + 1), -1);
    return this.#sends.run(taskId, () =>
      this.o.status.publish(taskId, last.state, actor, last.reason, last.at, run, passed, {
        ...(last.unpinnedHubKey ? { unpinnedHubKey: last.unpinnedHubKey } : {}),
        ...(last.mend ? { mend: last.mend } : {}),
      }),
    );
  }

  #told(taskId: string, steps: readonly PassedStep[]): void {
    for (const { state, reason } of steps) this.o.onTransition(taskId, state, reason);
  }
}

/**
 * The audit record of one transition: named by the step it ends at, with that step's reason; steps passed on the
 * way at the same moment (a claim's received and accepted) are listed in `passed`, each with its reason under its
 * own name.
 */
function transitionRecord(
  taskId: string,
  steps: readonly PassedStep[],
  actor: string,
  run: number,
): AuditEntry {
  const last = steps.at(-1)!; // never empty: the one caller sends at least one step
  const cut = (reason: string) => reason.slice(0, auditLimits.detailStringChars);
  const passed = steps.slice(0, -1);
  const details: Record<string, string | number> = {
    ...(last.reason ? { reason: cut(last.reason) } : {}),
    ...(run > 1 ? { attempt: run } : {}),
    ...(passed.length > 0 ? { passed: auditList(passed.map((p) => p.state)) } : {}),
  };
  for (const p of passed) if (p.reason) details[p.state] = cut(p.reason);
  return {
    actor,
    action: `task.${last.state}`,
    taskId,
    ...(Object.keys(details).length > 0 ? { details } : {}),
  };
}
