/**
 * Fans a task out: one hub-signed Dispatch per TRE, stored in that TRE's TASKS stream (in the
 * TRE's own hub account, reached through the service import FED holds for it). Every publish
 * carries a message id derived from (task, TRE), so a retry after a crash or by a second hub
 * instance is deduplicated by JetStream instead of queued twice.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import {
  DEFAULT_MAX_LIFETIME_MS,
  newId,
  type SigningKey,
  sealEnvelope,
  subjects,
} from "../protocol/index.js";
import type { TaskRecord, TaskStore } from "./task-store.js";

export interface DispatchOptions {
  js: JetStreamClient;
  hubKey: SigningKey;
  tasks: TaskStore;
  /**
   * Expiry of the researcher's Submission: a Dispatch is never valid for longer, nor for longer than a receiver
   * accepts from its own issue time (a Submission issued within the clock skew ahead of the hub may otherwise
   * outlive that by the skew).
   */
  submissionExp: number;
  now?: () => number;
}

/** The JetStream message id of a Dispatch: one per (task, TRE), stable across retries. */
function dispatchMsgId(taskId: string, tre: string): string {
  return `dispatch.${taskId}.${tre}`;
}

/** Stores every TRE's Dispatch, then marks the task dispatched. Safe to repeat. */
export async function dispatchTask(
  task: TaskRecord,
  envelope: Uint8Array,
  opts: DispatchOptions,
): Promise<void> {
  const now = (opts.now ?? Date.now)();
  await Promise.all(
    task.tres.map(async (tre) => {
      const dispatch = sealEnvelope(
        "dispatch",
        {
          id: newId(now),
          iat: now,
          exp: Math.min(opts.submissionExp, now + DEFAULT_MAX_LIFETIME_MS),
          taskId: task.taskId,
          tre,
          submission: envelope,
        },
        opts.hubKey,
      );
      await opts.js.publish(subjects.dispatch(tre, task.taskId), dispatch, {
        msgID: dispatchMsgId(task.taskId, tre),
      });
    }),
  );
  await opts.tasks.markDispatched(task.taskId);
}
