/**
 * The task life cycle as the hub sees it: per-TRE child states come from the TREs' signed
 * StatusEvents; the parent state is derived from them, never stored independently of them.
 *
 * Parent: submitted → dispatched → running → completed | partial | failed | cancelled.
 */
import type { ChildState, ParentState } from "../protocol/index.js";

export type { ParentState };

/** Child states after which nothing more happens at that TRE. */
const SUCCEEDED: ReadonlySet<ChildState> = new Set(["released", "partially_released", "delivered"]);
const FAILED: ReadonlySet<ChildState> = new Set(["rejected", "executor_error", "withheld"]);

export function isTerminal(state: ChildState): boolean {
  return SUCCEEDED.has(state) || FAILED.has(state) || state === "cancelled";
}

/**
 * Derives the parent state from its children. `dispatched` says whether every Dispatch has been
 * stored in its TRE's TASKS stream (before that the task is only `submitted`).
 */
export function deriveParentState(children: readonly ChildState[], dispatched: boolean): ParentState {
  if (!dispatched) return "submitted";
  if (children.length === 0 || children.every((c) => c === "queued")) return "dispatched";
  if (!children.every(isTerminal)) return "running";
  const ok = children.filter((c) => SUCCEEDED.has(c)).length;
  if (ok === children.length) return "completed";
  if (ok > 0) return "partial";
  if (children.every((c) => c === "cancelled")) return "cancelled";
  return "failed";
}

/** Progress order of the non-terminal and terminal states along the normal path. */
const RANK: Record<ChildState, number> = {
  queued: 0,
  received: 1,
  accepted: 2,
  rejected: 2,
  running: 3,
  executor_error: 4,
  outputs_pending_review: 4,
  released: 5,
  withheld: 5,
  partially_released: 5,
  delivered: 6,
  cancel_requested: 0,
  cancelled: 7,
};

/**
 * Whether an event may move a child from `from` to `to`. States only move forward, so events that
 * arrive out of order (several hub instances share one consumer) or late can never move a child
 * back, and a terminal state is final (`delivered` may still follow a release). A cancel request
 * may come at any point before the end; after it only an end state may follow.
 */
export function mayTransition(from: ChildState, to: ChildState): boolean {
  if (from === to) return false;
  if (from === "released" || from === "partially_released") return to === "delivered";
  if (isTerminal(from)) return false;
  if (to === "cancel_requested") return true;
  if (from === "cancel_requested") return isTerminal(to);
  return RANK[to] > RANK[from];
}

/** The steps a TRE reports on the way to an end state; each may arrive late without being any less true. */
const STEPS: ReadonlySet<ChildState> = new Set(["received", "accepted", "running", "outputs_pending_review"]);

/**
 * Whether an event that may not move the child (see `mayTransition`) is a late report of a step the child has
 * already passed: one of the TRE's steps towards its end state, arriving after a later state (a status event
 * redelivered after a hub restart, or handled by another hub instance meanwhile). It belongs in the child's
 * history, where the researcher reads who did what and when; the state does not move back.
 */
export function isPassedStep(current: ChildState, late: ChildState): boolean {
  return STEPS.has(late) && RANK[late] < RANK[current];
}
