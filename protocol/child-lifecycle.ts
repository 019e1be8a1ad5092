/**
 * The life cycle of a task at one TRE (its "child"), for the hub and the leaf alike.
 *
 *   queued → received → rejected | accepted → running → executor_error | outputs_pending_review
 *          → released | withheld | partially_released → delivered;  cancel_requested → cancelled;
 *   queued → expired (the hub's: the task aged out of the TRE's TASKS stream before the TRE took it)
 *   queued → rejected (the TRE's, without receiving it: its Dispatch was signed by a key other than the hub key the
 *          TRE pins; `StatusEvent.unpinnedHubKey`)
 *   running → accepted: the attempt ended without outputs (its agent restarted, or its executor failed in a way
 *          worth retrying) and the next attempt follows; every event carries its attempt (1 when absent).
 *
 * Two views of the same table. The leaf makes each step itself, so every step it records must be one of
 * `childSteps` (`checkChildStep` throws a typed error otherwise). The hub learns of steps from the TREs' signed
 * StatusEvents, which may arrive late, twice or out of order, so it accepts any move forward (`mayTransition`).
 * The parent state is derived from the children, never stored independently of them.
 */
import type { ChildState } from "./messages.js";
import type { ParentState } from "./researcher-api.js";

/** Children that ended with something released. */
const SUCCEEDED: ReadonlySet<ChildState> = new Set(["released", "partially_released", "delivered"]);
/** Children that ended with nothing released. */
const FAILED: ReadonlySet<ChildState> = new Set(["rejected", "executor_error", "withheld", "expired"]);

/** Child states after which nothing more happens at that TRE (`delivered` may still follow a release). */
export function isTerminal(state: ChildState): boolean {
  return SUCCEEDED.has(state) || FAILED.has(state) || state === "cancelled";
}

/**
 * States after which the leaf's agent does nothing more for the task: the terminal states, and
 * `outputs_pending_review`, where review and release are the airlock's.
 */
export function isSettled(state: ChildState): boolean {
  return state === "outputs_pending_review" || isTerminal(state);
}

/** The airlock's end states: what one Release of a task's decided outputs says. */
export type ReleaseOutcome = "released" | "withheld" | "partially_released";

export function isReleaseOutcome(state: ChildState | undefined): state is ReleaseOutcome {
  return state === "released" || state === "withheld" || state === "partially_released";
}

/** The end state a Release stands for: what it lets out and what it keeps inside. */
export function releaseOutcome(release: {
  outputs: readonly unknown[];
  withheld: readonly unknown[];
}): ReleaseOutcome {
  if (release.outputs.length === 0) return "withheld";
  return release.withheld.length === 0 ? "released" : "partially_released";
}

/**
 * Every step a child may take, from each state. The leaf records only these; `queued` stands for "no record
 * yet" (a Dispatch claims the task as `received`, a Cancel that overtook its Dispatch as `cancelled`, a Dispatch
 * signed by another key than the pinned hub key as `rejected`).
 * `cancel_requested` is the hub's own state (a researcher's cancel on its way to the TRE).
 */
export const childSteps: { readonly [S in ChildState]: readonly ChildState[] } = {
  // `expired` is the hub's: the Dispatch aged out of the TRE's TASKS stream before the TRE took it.
  // `rejected` without `received`: a Dispatch signed by another hub key than the TRE pins (leaf/hub-key-refusal.ts).
  queued: ["received", "rejected", "cancelled", "cancel_requested", "expired"],
  received: ["accepted", "rejected", "cancelled", "cancel_requested"],
  accepted: [
    "running",
    "cancelled",
    "cancel_requested",
    // Leaf only, after an agent restart: back to the decision point, re-checked with this run's config (never announced).
    "received",
    // Leaf only, after an agent restart: the stored Dispatch no longer verifies.
    "rejected",
    // Recording `running` itself failed.
    "executor_error",
  ],
  running: [
    "executor_error",
    "outputs_pending_review",
    "cancelled",
    "cancel_requested",
    // A retry (RETRY_STEP): the attempt ended with nothing kept, the next one starts from the decision made.
    "accepted",
  ],
  outputs_pending_review: ["released", "withheld", "partially_released", "cancelled", "cancel_requested"],
  released: ["delivered"],
  partially_released: ["delivered"],
  withheld: [],
  rejected: [],
  executor_error: [],
  delivered: [],
  cancelled: [],
  expired: [],
  cancel_requested: [
    "expired",
    "released",
    "partially_released",
    "withheld",
    "rejected",
    "executor_error",
    "delivered",
    "cancelled",
  ],
};

/** The one step back the life cycle has: it starts the next attempt, whose events carry a higher attempt number. */
export const RETRY_STEP = { from: "running", to: "accepted" } as const satisfies {
  from: ChildState;
  to: ChildState;
};

/** Whether `from → to` is the retry step. */
export function isRetryStep(from: ChildState, to: ChildState): boolean {
  return from === RETRY_STEP.from && to === RETRY_STEP.to;
}

/** Whether `to` is one step from `from` in `childSteps`. */
export function isChildStep(from: ChildState, to: ChildState): boolean {
  return childSteps[from].includes(to);
}

/** A step the life cycle does not have: a bug in the code that tried it, never a hostile message. */
export class ChildTransitionError extends Error {
  override readonly name = "ChildTransitionError";
  constructor(
    readonly taskId: string,
    readonly from: ChildState,
    readonly to: ChildState,
  ) {
    super(`task ${taskId} cannot move from ${from} to ${to}`);
  }
}

/** Throws `ChildTransitionError` unless `from → to` is one of `childSteps`. */
export function checkChildStep(taskId: string, from: ChildState, to: ChildState): void {
  if (!isChildStep(from, to)) throw new ChildTransitionError(taskId, from, to);
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

/** The steps a TRE reports on the way to an end state; each may arrive late without being any less true. */
const STEPS: ReadonlySet<ChildState> = new Set(["received", "accepted", "running", "outputs_pending_review"]);

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
  expired: 7,
};

/** Attempt numbers of a child's current state and of an event; absent means 1 (every event before retries). */
export interface Attempts {
  from?: number;
  to?: number;
}

/** Whether (attempt, rank) of `to` comes after that of `from`: a later attempt supersedes every step of an earlier one. */
function isLater(from: ChildState, to: ChildState, a: Attempts): boolean {
  const fa = a.from ?? 1;
  const ta = a.to ?? 1;
  return ta !== fa ? ta > fa : RANK[to] > RANK[from];
}

/**
 * Whether an event may move a child from `from` to `to` in the hub's records. States only move forward — by
 * attempt first, then along the normal path — so events that arrive out of order (several hub instances share one
 * consumer) or late can never move a child back, and a terminal state is final (`delivered` may still follow a
 * release). The retry step (`RETRY_STEP`) moves forward because it starts a higher attempt. A TRE's end state ends
 * any child still moving. A cancel request may come at any point before the end; after it only an end state may
 * follow.
 */
export function mayTransition(from: ChildState, to: ChildState, attempts: Attempts = {}): boolean {
  if (from === "released" || from === "partially_released") return to === "delivered";
  // `expired` is the hub's inference from time alone; the TRE's own word that it took the task (its events were
  // late, say behind a link down for days) outweighs it.
  if (from === "expired") return STEPS.has(to) || (isTerminal(to) && to !== "expired");
  if (isTerminal(from)) return false;
  if (to === "cancel_requested") return from !== to;
  if (from === "cancel_requested" || isTerminal(to)) return isTerminal(to);
  return isLater(from, to, attempts);
}

/**
 * Whether an event that may not move the child (see `mayTransition`) is a late report of a step the child has
 * already passed: one of the TRE's steps towards its end state, arriving after a later state (a status event
 * redelivered after a hub restart, or handled by another hub instance meanwhile). It belongs in the child's
 * history, where the researcher reads who did what and when; the state does not move back.
 */
export function isPassedStep(current: ChildState, late: ChildState, attempts: Attempts = {}): boolean {
  if (!STEPS.has(late) || current === "cancel_requested") return false;
  // `attempts.from` is the child's, `attempts.to` the late event's.
  return isLater(late, current, { from: attempts.to ?? 1, to: attempts.from ?? 1 });
}
