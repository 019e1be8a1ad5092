/**
 * The task life cycle as the hub sees it: per-TRE child states come from the TREs' signed
 * StatusEvents; the parent state is derived from them, never stored independently of them.
 *
 * Parent: submitted → dispatched → running → completed | partial | failed | cancelled.
 */
import type { ChildState } from "../protocol/index.js";

export type ParentState =
  | "submitted"
  | "dispatched"
  | "running"
  | "completed"
  | "partial"
  | "failed"
  | "cancelled";

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

/**
 * Whether a TRE's event may move a child from `from` to `to`. A terminal state is final, so a
 * late or replayed event can never reopen a finished task at a TRE; `delivered` may follow a release.
 */
export function mayTransition(from: ChildState, to: ChildState): boolean {
  if (from === to) return false;
  if (from === "released" || from === "partially_released") return to === "delivered";
  return !isTerminal(from);
}
