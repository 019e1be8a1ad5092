/**
 * Where a task stands, in words a researcher acts on: what each unfinished TRE is still doing (awaiting review,
 * running, not yet received), and why a TRE that ended released nothing. `watch`, `submit --wait`, `results` and
 * `aggregate` all say it the same way.
 */
import type { ChildState, ChildView, TaskView } from "../protocol/index.js";
import { printable } from "./printable.js";

/** Per-TRE states in which a TRE released nothing and said why. */
const NOT_RELEASED: ReadonlySet<ChildState> = new Set([
  "rejected",
  "executor_error",
  "withheld",
  "cancelled",
  "expired",
]);

/** Whether this TRE's part ended with nothing released. */
export function releasedNothing(child: ChildView): boolean {
  return NOT_RELEASED.has(child.state);
}

/** The reason the TRE (or the hub) gave for the TRE's current state, made printable; undefined when none. */
export function childReason(child: ChildView): string | undefined {
  const reason = child.history.findLast((h) => h.state === child.state && h.reason)?.reason;
  return reason === undefined ? undefined : printable(reason);
}

/**
 * After a task ends (or while it runs): one line per TRE that released nothing, with its reason as the TRE gave it,
 * then what to do. Empty when no TRE ended without releasing.
 */
export function notReleasedLines(task: TaskView): string[] {
  const lines = task.children
    .filter(releasedNothing)
    .map((c) => `${c.tre} ${c.state}: ${childReason(c) ?? "no reason given"}`);
  if (lines.length > 0)
    lines.push(
      `fix the analysis and submit again, or ask a TRE's operator for what it has not approved; \`tremesh status ${task.taskId}\` shows each TRE's history`,
    );
  return lines;
}

/** What the TREs in each unfinished state are still doing, said after "still": "awaiting review at north". */
const WAITING: Partial<Record<ChildState, (tres: readonly string[]) => string>> = {
  queued: (tres) =>
    tres.length === 1
      ? `waiting for TRE ${tres[0]} to receive it (is its leaf linked? \`tremesh tres\` shows each TRE's link; if it is, the TRE's log says why it has not taken the task)`
      : `waiting for TREs ${tres.join(", ")} to receive it (are their leaves linked? \`tremesh tres\` shows each TRE's link; if they are, each TRE's log says why it has not taken the task)`,
  received: (tres) => `being checked at ${tres.join(", ")}`,
  accepted: (tres) => `waiting to start at ${tres.join(", ")}`,
  running: (tres) => `running at ${tres.join(", ")}`,
  outputs_pending_review: (tres) => `awaiting review at ${tres.join(", ")}`,
  cancel_requested: (tres) => `being cancelled at ${tres.join(", ")}`,
};

/**
 * Why an unfinished TRE's part cannot move: the hub refuses everything the TRE sends, signed with a key the
 * federation did not register for it (`ChildView.unregisteredKey`), and what its operator must do.
 */
export function unregisteredKeyText(tre: string, key: string): string {
  return (
    `the hub refuses TRE ${tre}'s messages: it signs them with key ${printable(key.slice(0, 8))}…, which the federation did not ` +
    `register for it; its operator must set leaf.yaml signingKeyFile to the seed whose public key was given to ` +
    "`tremesh admin add-tre`"
  );
}

/** A TRE's state as `watch` prints it: with a word of it when the hub refuses what the TRE sends. */
export function childStateText(child: ChildView): string {
  return child.unregisteredKey ? `${child.state} (its messages refused: unregistered key)` : child.state;
}

/**
 * What the unfinished TREs of a task are doing, grouped by state: "awaiting review at north; waiting for TRE east to
 * receive it (is its leaf linked? …)"; a TRE whose messages the hub refuses is named on its own, with why. Empty when
 * every TRE has ended.
 */
export function waitingOn(task: TaskView): string {
  const parts: string[] = [];
  const moving = task.children.filter((c) => !c.unregisteredKey);
  for (const [state, say] of Object.entries(WAITING) as [ChildState, (tres: readonly string[]) => string][]) {
    const tres = moving.filter((c) => c.state === state).map((c) => c.tre);
    if (tres.length > 0) parts.push(say(tres));
  }
  for (const c of task.children)
    if (c.unregisteredKey) parts.push(unregisteredKeyText(c.tre, c.unregisteredKey));
  return parts.join("; ");
}

/**
 * The start of a line about an unfinished task: "task ID is still running after 8000 ms: awaiting review at north",
 * `after` naming how long the caller waited, when it did.
 */
export function stillLine(task: TaskView, after = ""): string {
  const waiting = waitingOn(task);
  return `task ${task.taskId} is still ${task.state}${after}${waiting ? `: ${waiting}` : ""}`;
}

/** How to follow an unfinished task. */
export const followHint = (taskId: string) => `\`tremesh watch ${taskId}\` follows it`;
