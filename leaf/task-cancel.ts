/**
 * A researcher's Cancel at the TRE, once its hub signature is verified: a task not seen yet is recorded cancelled so
 * its Dispatch never runs; a running one is noted (so a restarted agent ends it rather than running it again) and
 * its executor stopped, which records `cancelled`; any other task that may still leave its state is cancelled at
 * once; a Cancel that changes nothing is refused on the record.
 */
import { DeadLetterCode, isChildStep, type Refusal, refusal } from "../protocol/index.js";
import type { AgentState } from "./agent-state.js";
import { AGENT_ACTOR as AGENT, type TaskTransitions } from "./task-transitions.js";

export interface CancelContext {
  state: AgentState;
  transitions: TaskTransitions;
  /** The runs in progress, by task: aborting one stops its executor. */
  running: ReadonlyMap<string, AbortController>;
  now: () => number;
}

/** Applies a verified Cancel of `taskId`; `why` is its reason as the task's history shows it. */
export async function applyCancel(
  ctx: CancelContext,
  taskId: string,
  why: string,
  redelivered: boolean,
): Promise<Refusal | undefined> {
  const existing = await ctx.state.get(taskId);
  if (!existing) {
    // The cancel overtook its dispatch: record the task as cancelled so the dispatch never runs it.
    const at = ctx.now();
    const claimed = await ctx.state.claim({
      taskId,
      state: "cancelled",
      history: [{ state: "cancelled", at, actor: AGENT, reason: why }],
    });
    if (claimed) await ctx.transitions.announce(taskId, "cancelled", why, at);
    return undefined;
  }
  const running = ctx.running.get(taskId);
  if (running && existing.state === "running") {
    // Noted first: an agent restarted before the run records `cancelled` ends the task instead of retrying it.
    await ctx.state.markCancelRequested(taskId, why);
    running.abort(); // the executor stops and the task records `cancelled`
    return undefined;
  }
  // A running task is cancelled through its executor (above); from any other state it may leave, at once.
  const cancelled = await ctx.transitions.record(
    taskId,
    "cancelled",
    why,
    (s) => s !== "running" && isChildStep(s, "cancelled"),
  );
  // A Cancel that changes nothing (the task ended here, or was cancelled already) is refused on the record.
  if (!cancelled && !redelivered) {
    return refusal(
      DeadLetterCode.alreadyEnded,
      `task ${taskId} is ${existing.state} here; the cancel changes nothing`,
    );
  }
  return undefined;
}
