/**
 * Every transition of a task at this TRE, recorded and then announced: compare-and-set in the agent's state
 * (a step of the child life cycle, or a `ChildTransitionError`), then a TRE-signed StatusEvent in OUTBOX and a
 * record in the TRE's audit log (written at once), and an event for the process.
 */
import { auditLimits } from "../audit/index.js";
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
    const at = this.o.now();
    const next = await this.o.state.transition(
      taskId,
      { state, at, actor: AGENT_ACTOR, ...(reason ? { reason } : {}) },
      allowed,
    );
    if (!next) return undefined;
    await this.announce(taskId, state, reason, at, AGENT_ACTOR, attemptOf(next));
    return next;
  }

  /**
   * Announces a transition already recorded (by a claim, or by the airlock), as part of `attempt` (by default
   * the attempt the task's record is at).
   */
  async announce(
    taskId: string,
    state: ChildState,
    reason: string | undefined,
    at: number,
    actor = AGENT_ACTOR,
    attempt?: number,
  ): Promise<void> {
    const run = attempt ?? attemptOf((await this.o.state.get(taskId)) ?? {});
    await this.#announce(taskId, [{ state, at, ...(reason ? { reason } : {}) }], actor, run);
  }

  /**
   * Announces the steps a task's claim recorded at once (received, and accepted or rejected, and running when a
   * slot was free), at its first attempt: one StatusEvent, the earlier steps in its `passed`, and an audit record
   * for each step.
   */
  announceClaim(taskId: string, steps: readonly PassedStep[]): Promise<void> {
    return this.#announce(taskId, steps, AGENT_ACTOR, 1);
  }

  async #announce(taskId: string, steps: readonly PassedStep[], actor: string, run: number): Promise<void> {
    const last = steps.at(-1);
    if (!last) return;
    const audited = steps.map(({ state, reason }) => {
      const details = {
        ...(reason ? { reason: reason.slice(0, auditLimits.detailStringChars) } : {}),
        ...(run > 1 ? { attempt: run } : {}),
      };
      return this.o.audit.append({
        actor,
        action: `task.${state}`,
        taskId,
        ...(Object.keys(details).length > 0 ? { details } : {}),
      });
    });
    // Two stores, neither waiting for the other: both are written before the task moves on.
    await Promise.all([
      this.o.status.publish(taskId, last.state, actor, last.reason, last.at, run, steps.slice(0, -1)),
      ...audited,
    ]);
    for (const { state, reason } of steps) this.o.onTransition(taskId, state, reason);
  }
}
