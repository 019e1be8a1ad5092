/**
 * Fans a task out: one hub-signed Dispatch per TRE, stored in that TRE's TASKS stream (in the
 * TRE's own hub account, reached through the service import FED holds for it). Every publish
 * carries a message id derived from (task, TRE), so a retry after a crash or by a second hub
 * instance is deduplicated by JetStream instead of queued twice.
 *
 * A TRE's TASKS stream that has reached a storage limit (its account's JetStream storage, the server's) refuses
 * the Dispatch. Retrying cannot cure that, so that TRE's child ends at once — `rejected` by the hub, the reason
 * naming the limit and its size — and the refusal is audited and returned for the researcher's answer: the task
 * is never left `submitted` with the dispatch retried in silence.
 */
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { auditLimits } from "../audit/index.js";
import {
  type AuditSink,
  describeStorageLimit,
  isStorageLimit,
  type StorageLimitError,
} from "../common/index.js";
import {
  DEFAULT_MAX_LIFETIME_MS,
  isTerminal,
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
  /** Where a TRE that refused a Dispatch for a storage limit is recorded. */
  audit: AuditSink;
  /**
   * A manager of TRE `tre`'s hub account, to read the size of a limit its TASKS stream reached; absent (or
   * undefined for a TRE) names the limit without its size.
   */
  treJetStream?: (tre: string) => JetStreamManager | undefined;
  /**
   * Expiry of the researcher's Submission: a Dispatch is never valid for longer, nor for longer than a receiver
   * accepts from its own issue time (a Submission issued within the clock skew ahead of the hub may otherwise
   * outlive that by the skew).
   */
  submissionExp: number;
  /** The task was created just now, by this instance: none of its children can have ended, and none is read. */
  fresh?: boolean;
  now?: () => number;
}

/** A TRE whose TASKS stream refused the task for a storage limit: its child has ended `rejected`. */
export interface NotQueued {
  tre: string;
  error: StorageLimitError;
}

/** The JetStream message id of a Dispatch: one per (task, TRE), stable across retries. */
function dispatchMsgId(taskId: string, tre: string): string {
  return `dispatch.${taskId}.${tre}`;
}

/**
 * Stores every TRE's Dispatch, then marks the task dispatched. Safe to repeat: a TRE whose child has ended (its
 * TRE reported an end, or its TASKS stream refused the task before) is not dispatched again. Returns the TREs
 * that refused it for a storage limit; throws on any other failure (the dispatch is completed later).
 */
export async function dispatchTask(
  task: TaskRecord,
  envelope: Uint8Array,
  opts: DispatchOptions,
): Promise<NotQueued[]> {
  const now = (opts.now ?? Date.now)();
  const ended = new Set(
    opts.fresh
      ? []
      : (await opts.tasks.childrenOf(task)).filter((c) => isTerminal(c.state)).map((c) => c.tre),
  );
  const outcomes = await Promise.allSettled(
    task.tres
      .filter((tre) => !ended.has(tre))
      .map(async (tre): Promise<NotQueued | undefined> => {
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
        try {
          await opts.js.publish(subjects.dispatch(tre, task.taskId), dispatch, {
            msgID: dispatchMsgId(task.taskId, tre),
          });
          return undefined;
        } catch (error) {
          if (!isStorageLimit(error)) throw error;
          const limit = await describeStorageLimit(error, {
            what: `task queue of TRE ${tre} at the hub`,
            account: `TRE ${tre}'s hub account`,
            jsm: opts.treJetStream?.(tre),
            stream: "TASKS",
          });
          await notQueued(task.taskId, tre, limit, opts, now);
          return { tre, error: limit };
        }
      }),
  );
  const failed = outcomes.find((o) => o.status === "rejected");
  if (failed) throw failed.reason;
  await opts.tasks.markDispatched(task.taskId);
  return outcomes.flatMap((o) => (o.status === "fulfilled" && o.value ? [o.value] : []));
}

/** Ends the child of a TRE whose TASKS stream refused the task, and audits why. */
async function notQueued(
  taskId: string,
  tre: string,
  limit: StorageLimitError,
  opts: DispatchOptions,
  now: number,
): Promise<void> {
  const reason = `${limit.message}; the task was not queued for ${tre} and will not run there (ask the federation admin)`;
  await opts.tasks.applyChildEvent(taskId, tre, {
    state: "rejected",
    at: now,
    actor: "hub",
    eventId: `not-queued-${taskId}-${tre}`,
    reason,
  });
  await opts.audit.append({
    actor: "hub",
    action: "task.not_queued",
    taskId,
    tre,
    details: {
      limit: limit.limit.slice(0, auditLimits.detailStringChars),
      ...(limit.size === undefined ? {} : { bytes: limit.size }),
      code: limit.serverCode,
    },
  });
}
