/**
 * Tasks a TRE never took: a TRE's TASKS stream keeps a Dispatch for `tasksMaxAgeMs` (hub.yaml, default 14 days),
 * then drops it. A child still `queued` after that long will never be received, so the hub ends it as `expired`,
 * with the reason, rather than leave the researcher waiting forever. Every hub instance may look; a child is
 * ended once (its event id is fixed per task and TRE).
 *
 * `expired` is inferred from time alone: a TRE that did take the task in time, but whose events reach the hub late
 * (a link down for days), reopens the child with them (`mayTransition`).
 */
import type { TaskStore } from "./task-store.js";

export interface ExpiredChild {
  taskId: string;
  tre: string;
}

const DAY_MS = 86_400_000;

/** How the reason names the retention: in days when it is whole days, else in seconds. */
function retention(ms: number): string {
  return ms % DAY_MS === 0 ? `${ms / DAY_MS} day(s)` : `${Math.round(ms / 1000)} s`;
}

/** Ends as `expired` every child still `queued` whose Dispatch has aged out of its TRE's TASKS stream. */
export async function expireUntaken(
  tasks: TaskStore,
  tasksMaxAgeMs: number,
  now = Date.now(),
): Promise<ExpiredChild[]> {
  const expired: ExpiredChild[] = [];
  for (const task of await tasks.dispatchedBefore(now - tasksMaxAgeMs)) {
    for (const child of await tasks.childrenOf(task)) {
      if (child.state !== "queued") continue;
      const ended = await tasks.applyChildEvent(task.taskId, child.tre, {
        state: "expired",
        at: now,
        actor: "hub",
        eventId: `expired-${task.taskId}-${child.tre}`,
        reason: `TRE ${child.tre} did not take the task within the ${retention(tasksMaxAgeMs)} its TASKS stream keeps it; the task is gone from there and will not run at ${child.tre}`,
      });
      if (ended) expired.push({ taskId: task.taskId, tre: child.tre });
    }
  }
  return expired;
}
