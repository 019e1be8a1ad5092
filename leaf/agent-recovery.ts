/**
 * What the agent does on start, before it takes any task: removes what a crashed run of an executor left
 * (containers, scratch), and ends or resumes the tasks a previous run left unsettled. A task caught `running`
 * is ended as `executor_error`, never run again; one caught before that goes back to the decision point.
 */
import type { AuditSink } from "../common/index.js";
import type { Executor } from "../executors/index.js";
import type { ChildState, Dispatch } from "../protocol/index.js";
import type { AgentState, AgentTask } from "./agent-state.js";
import { AGENT_ACTOR, type TaskTransitions } from "./task-transitions.js";

export interface RecoveryOptions {
  state: AgentState;
  transitions: TaskTransitions;
  /** The stored Dispatch, verified again (undefined when it no longer verifies). */
  reopen: (task: AgentTask) => Dispatch | undefined;
  /** Runs the rest of a resumed task's life. */
  resume: (dispatch: Dispatch) => void;
  onRecovered: (taskId: string, state: ChildState) => void;
  now: () => number;
}

/** Before any task runs: what a crashed run of an executor left goes. */
export async function cleanUpExecutors(
  executors: readonly Executor[],
  audit: AuditSink,
  onCleaned: (executor: string, removed: number) => void,
): Promise<void> {
  for (const executor of executors) {
    if (!executor.cleanUp) continue;
    const removed = await executor.cleanUp();
    onCleaned(executor.kinds.join(","), removed);
    if (removed > 0)
      await audit.append({ actor: AGENT_ACTOR, action: "executor.cleaned", details: { removed } });
  }
}

/** After a restart: a task caught `running` is ended, never run again; one caught before that continues. */
export async function recoverTasks(o: RecoveryOptions): Promise<void> {
  for (const task of await o.state.unsettled()) {
    if (task.state === "running") {
      await o.transitions.record(
        task.taskId,
        "executor_error",
        "the agent restarted while this task ran; it is not run again",
      );
      o.onRecovered(task.taskId, "executor_error");
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
      o.resume(dispatch);
    }
  }
}
