/**
 * What the agent does on start, before it takes any task: removes what a crashed run of an executor left
 * (containers, scratch), and ends or resumes the tasks a previous run left unsettled.
 *
 * A task caught `running` has released nothing: what its run held is discarded, and it runs again as its next
 * attempt (the retry step, `running → accepted`), unless its attempts are used up or a Cancel had reached it, which
 * wins. One whose Release is stored already (every output decided at hold, the restart before the transition) is
 * finished instead: released, never run again. Its PostgreSQL role was swept before this (the broker's `sweep`).
 * A task caught before `running` goes back to the decision point. Each is first announced again as its record
 * has it: steps that waited to be announced with a later one did not outlive the process.
 */
import { type AuditSink, asError } from "../common/index.js";
import type { Executor } from "../executors/index.js";
import { type ChildState, type Dispatch, isSettled } from "../protocol/index.js";
import { type AgentState, type AgentTask, attemptOf } from "./agent-state.js";
import { AGENT_ACTOR, type TaskTransitions } from "./task-transitions.js";

export interface RecoveryOptions {
  state: AgentState;
  /** Every task record, as the start read them (`AgentState.all`); the unsettled ones are recovered. */
  records: readonly AgentTask[];
  transitions: TaskTransitions;
  /** Runs a task may have at this TRE (leaf.yaml `maxTaskAttempts`). */
  maxAttempts: number;
  /** The stored Dispatch, verified again (undefined when it no longer verifies). */
  reopen: (task: AgentTask) => Dispatch | undefined;
  /** Discards what an interrupted run held; false when the task's Release is made (it never runs again). */
  discardAttempt: (taskId: string, attempt: number) => Promise<boolean>;
  /** Finishes a task whose Release was made while it was `running` (`Airlock.finishBuilt`): its outcome. */
  finishBuilt: (taskId: string, attempt: number) => Promise<ChildState | undefined>;
  /** Runs the rest of a resumed task's life; `retry` when it is `accepted` for its next attempt. */
  resume: (dispatch: Dispatch, retry: boolean) => void;
  onRecovered: (taskId: string, state: ChildState) => void;
  now: () => number;
}

/** Before any task runs: what a crashed run of an executor left goes. */
export async function cleanUpExecutors(
  executors: readonly Executor[],
  audit: AuditSink,
  onCleaned: (executor: string, removed: number) => void,
  onFailed: (executor: string, error: Error) => void,
): Promise<void> {
  for (const executor of executors) {
    if (!executor.cleanUp) continue;
    // An engine away at start (the leaf warns of it, naming leaf.yaml's field) leaves its leftovers for the next start;
    // the agent starts, so that the TRE's other executors work.
    const removed = await executor.cleanUp().catch((e: unknown) => {
      onFailed(executor.kinds.join(","), asError(e));
      return undefined;
    });
    if (removed === undefined) continue;
    onCleaned(executor.kinds.join(","), removed);
    if (removed > 0)
      await audit.append({ actor: AGENT_ACTOR, action: "executor.cleaned", details: { removed } });
  }
}

/** The reason a task caught running by a restart ends with when it does not run again. */
export function restartedReason(attempt: number, maxAttempts: number): string {
  return `the agent restarted while attempt ${attempt} of ${maxAttempts} ran; no attempt is left`;
}

/** After a restart: a task caught `running` runs again while it has attempts left; one caught before continues. */
export async function recoverTasks(o: RecoveryOptions): Promise<void> {
  for (const task of o.records) {
    if (isSettled(task.state)) continue;
    // Its steps that waited to be announced died with the last run.
    await o.transitions.announceRecorded(task);
    if (task.state === "running") {
      await recoverRunning(o, task);
    } else if (task.dispatch) {
      const dispatch = o.reopen(task);
      if (!dispatch) {
        await o.transitions.record(task.taskId, "rejected", "the stored dispatch no longer verifies");
        continue;
      }
      if (task.state === "accepted") {
        // Back to the decision point: approvals are checked again with the config of this run.
        await o.state.transition(
          task.taskId,
          { state: "received", at: o.now(), actor: AGENT_ACTOR, reason: "re-checked after an agent restart" },
          (s) => s === "accepted",
        );
      }
      o.onRecovered(task.taskId, task.state);
      o.resume(dispatch, false);
    }
  }
}

async function recoverRunning(o: RecoveryOptions, task: AgentTask): Promise<void> {
  const { taskId } = task;
  const attempt = attemptOf(task);
  const end = async (state: ChildState, reason: string) => {
    await o.transitions.record(taskId, state, reason, (s) => s === "running");
    o.onRecovered(taskId, state);
  };
  // A cancel that reached the run before the restart wins over running it again.
  if (task.cancelRequested !== undefined) return end("cancelled", task.cancelRequested);
  if (!(await o.discardAttempt(taskId, attempt))) {
    const outcome = await o.finishBuilt(taskId, attempt);
    if (outcome) return o.onRecovered(taskId, outcome);
    return end(
      "executor_error",
      "the agent restarted after this task's Release was made; it is not run again",
    );
  }
  if (attempt >= o.maxAttempts) return end("executor_error", restartedReason(attempt, o.maxAttempts));
  const dispatch = o.reopen(task);
  if (!dispatch)
    return end("executor_error", "the stored dispatch no longer verifies; the task is not run again");
  const next = attempt + 1;
  const retried = await o.transitions.record(
    taskId,
    "accepted",
    `the agent restarted while attempt ${attempt} of ${o.maxAttempts} ran; nothing of it was kept; attempt ${next} follows`,
    (s) => s === "running",
  );
  if (!retried) return;
  o.onRecovered(taskId, "accepted");
  o.resume(dispatch, true);
}
