/**
 * Every transition of a task at this TRE, recorded and then announced: compare-and-set in the agent's state
 * (a step of the child life cycle, or a `ChildTransitionError`), then a TRE-signed StatusEvent in OUTBOX (for a
 * release, the Release itself) and a record in the TRE's audit log (written at once), and an event for the process.
 */
import { type AuditEntry, auditLimits, auditList } from "../audit/index.js";
import type { AuditSink } from "../common/index.js";
import { type ChildState, isSettled } from "../protocol/index.js";
import { type AgentState, type AgentTask, attemptOf } from "./agent-state.js";
import type { PassedStep, StatusPublisher } from "./status-publisher.js";

/** The agent, as its records and status events name it. */
export const AGENT_ACTOR = "agent";

export interface TaskTransitionsOptions {
  state: AgentState;
  status: StatusPublisher;
  audit: AuditSink;
  /** Each announced transition, for the process. */
  onTransition: (taskId: string, state: ChildState, reason: string | undefined) => void;
  now: () => number;
}

export class TaskTransitions {
  constructor(private readonly o: TaskTransitionsOptions) {}

  /**
   * Moves the task to `state` if `allowed(current)` (by default: the agent's part is not settled yet) and
   * announces it; undefined when the task had moved on already.
   */
  async record(
    taskId: string,
    state: ChildState,
    reason?: string,
    allowed: (current: ChildState) => boolean = (s) => !isSettled(s),
  ): Promise<AgentTask | undefined> {
    const moved = await this.#move(taskId, state, reason, allowed);
    if (!moved) return undefined;
    await this.#announce(taskId, [moved.step], AGENT_ACTOR, attemptOf(moved.task));
    return moved.task;
  }

  /** Announces a transition already recorded (by a claim's cancel), as part of the attempt the task's record is at. */
  async announce(taskId: string, state: ChildState, reason: string | undefined, at: number): Promise<void> {
    const run = attemptOf((await this.o.state.get(taskId)) ?? {});
    await this.#announce(taskId, [{ state, at, ...(reason ? { reason } : {}) }], AGENT_ACTOR, run);
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
   * slot was free), at its first attempt: one StatusEvent, the earlier steps in its `passed`, and an audit record
   * for each step.
   */
  announceClaim(taskId: string, steps: readonly PassedStep[]): Promise<void> {
    return this.#announce(taskId, steps, AGENT_ACTOR, 1);
  }

  async #move(
    taskId: string,
    state: ChildState,
    reason: string | undefined,
    allowed: (current: ChildState) => boolean,
  ): Promise<{ task: AgentTask; step: PassedStep } | undefined> {
    const at = this.o.now();
    const step = { state, at, ...(reason ? { reason } : {}) };
    const task = await this.o.state.transition(taskId, { ...step, actor: AGENT_ACTOR }, allowed);
    return task ? { task, step } : undefined;
  }

  /**
   * One StatusEvent for `steps` (the last, the others in its `passed`) and one audit record for them all; then each
   * step's event for the process.
   */
  async #announce(taskId: string, steps: readonly PassedStep[], actor: string, run: number): Promise<void> {
    const last = steps.at(-1);
    if (!last) return;
    // Two stores, neither waiting for the other: both are written before the task moves on.
    await Promise.all([
      this.o.status.publish(taskId, last.state, actor, last.reason, last.at, run, steps.slice(0, -1)),
      this.o.audit.append(transitionRecord(taskId, steps, actor, run)),
    ]);
    this.#told(taskId, steps);
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
