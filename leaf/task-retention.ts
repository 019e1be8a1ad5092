/**
 * How long a TRE keeps an ended task's records: the agent's record (AGENT_TASKS) and all the airlock held of it
 * (AIRLOCK: the outputs' bytes and checks, reviewers' decisions, the Release). Kept for ever, both buckets grow with
 * every task the TRE ever ran, the airlock keeps withheld outputs' bytes long after anyone needs them, and every
 * agent start reads every record.
 *
 * A task's records go once all of these hold:
 * - it has ended here (a terminal state: a task awaiting review is never touched);
 * - its last step is older than the retention (leaf.yaml `taskRetentionDays`), which is never less than the longest
 *   a Dispatch may be valid plus the clock skew allowed: a Dispatch is signed before its task's first step here, so
 *   by then every Dispatch of the task has expired, and a replay of one is refused as expired, record or not (as is
 *   a fresh Dispatch a compromised hub makes of its Submission, which has expired too: task-admission.ts);
 * - its Release, if it has one, is in OUTBOX (one not there yet is still being sent: by the airlock while the agent
 *   runs, or by its next start).
 *
 * What goes is recorded first, in audit records naming each task (as many ids to a record as its detail limit takes):
 * the TRE's audit chain keeps every task's history. The airlock's keys go before the agent's record, so an
 * interrupted sweep leaves the task for the next one to find.
 */
import { auditLimits } from "../audit/index.js";
import type { AuditSink } from "../common/index.js";
import { DEFAULT_CLOCK_SKEW_MS, DEFAULT_MAX_LIFETIME_MS, isTerminal } from "../protocol/index.js";
import type { AgentState, AgentTask } from "./agent-state.js";
import type { AirlockStore } from "./airlock-store.js";
import { AGENT_ACTOR } from "./task-transitions.js";

export const DAY_MS = 86_400_000;

/** The shortest retention: a Dispatch's longest validity and the clock skew allowed, in whole days (31). */
export const MIN_TASK_RETENTION_DAYS = Math.ceil((DEFAULT_MAX_LIFETIME_MS + DEFAULT_CLOCK_SKEW_MS) / DAY_MS);

export interface RetentionOptions {
  state: AgentState;
  store: AirlockStore;
  audit: AuditSink;
  /** How long an ended task's records stay after its last step, ms: at least `MIN_TASK_RETENTION_DAYS`. */
  keepMs: number;
  now: number;
  /** Ends the sweep between two tasks (the agent stopping): the rest wait for the next. */
  signal?: AbortSignal;
}

/**
 * Removes the records of every task in `records` (the agent's records, as just read) that the rules above let go.
 * Returns the ids removed, oldest first.
 */
export async function forgetEndedTasks(
  records: readonly AgentTask[],
  { state, store, audit, keepMs, now, signal }: RetentionOptions,
): Promise<string[]> {
  if (keepMs < MIN_TASK_RETENTION_DAYS * DAY_MS)
    throw new RangeError(`a task's records must be kept at least ${MIN_TASK_RETENTION_DAYS} days`);
  const before = now - keepMs;
  const ended = records
    .filter((t) => isTerminal(t.state))
    .map((t) => ({ taskId: t.taskId, at: lastStepAt(t) }))
    .filter((t) => t.at < before)
    .sort((a, b) => a.at - b.at);
  const forgettable: string[] = [];
  for (const { taskId } of ended) {
    if (signal?.aborted) return [];
    if (await store.sentOrNone(taskId)) forgettable.push(taskId);
  }
  const gone: string[] = [];
  for (const ids of listsWithin(forgettable, auditLimits.detailStringChars)) {
    if (signal?.aborted) break;
    await audit.append({
      actor: AGENT_ACTOR,
      action: "tasks.forgotten",
      details: { tasks: ids.join(","), count: ids.length, endedBefore: new Date(before).toISOString() },
    });
    for (const taskId of ids) {
      await store.forget(taskId);
      await state.forget(taskId);
    }
    gone.push(...ids);
  }
  return gone;
}

/** `ids` in runs whose comma-separated list is at most `chars` long (an id longer than that is a run of its own). */
function listsWithin(ids: readonly string[], chars: number): string[][] {
  const runs: string[][] = [];
  let run: string[] = [];
  let length = -1; // the list's length so far, less the comma before the next id
  for (const id of ids) {
    if (run.length > 0 && length + 1 + id.length > chars) {
      runs.push(run);
      run = [];
      length = -1;
    }
    run.push(id);
    length += 1 + id.length;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

/** When the task took its last step here (its record's newest event). */
function lastStepAt(task: AgentTask): number {
  return task.history.reduce((latest, e) => Math.max(latest, e.at), 0);
}
