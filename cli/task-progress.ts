/**
 * Where a task stands, in words a researcher acts on: what each unfinished TRE is still doing (awaiting review,
 * running, not yet received), and why a TRE that ended released nothing. `watch`, `submit --wait`, `results` and
 * `aggregate` all say it the same way.
 */
import type { ChildState, ChildView, Mend, TaskView } from "../protocol/index.js";
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
 * Whose move it is after a TRE released nothing: the researcher's where the TRE said the analysis was at fault or its
 * reviewers withheld the outputs; the TRE's operators' where it said so, or never took the task; undefined where
 * nobody said (a hub's refusal, most of a TRE's policy refusals), and for a cancel, after which there is nothing to mend.
 */
function mendOf(child: ChildView): Mend | "unsaid" | undefined {
  if (child.state === "cancelled") return undefined;
  if (child.state === "withheld") return "analysis";
  if (child.state === "expired") return "tre";
  return child.history.findLast((h) => h.state === child.state)?.mend ?? "unsaid";
}

/**
 * After a task ends (or while it runs): one line per TRE that released nothing, with its reason as the TRE gave it,
 * then what to do, as that reason's TRE says whose move it is: fix the analysis only where the analysis was at fault.
 * Empty when no TRE ended without releasing.
 */
export function notReleasedLines(task: TaskView): string[] {
  const ended = task.children.filter(releasedNothing);
  if (ended.length === 0) return [];
  const lines = ended.map((c) => `${c.tre} ${c.state}: ${childReason(c) ?? "no reason given"}`);
  const by = (mend: ReturnType<typeof mendOf>) => ended.filter((c) => mendOf(c) === mend).map((c) => c.tre);
  const [analysis, tre, unsaid] = [by("analysis"), by("tre"), by("unsaid")];
  const mixed = [analysis, tre, unsaid].filter((g) => g.length > 0).length > 1;
  const at = (tres: string[]) => (mixed ? ` (${tres.join(", ")})` : "");
  const todo: string[] = [];
  if (analysis.length > 0) todo.push(`fix the analysis and submit again${at(analysis)}`);
  if (tre.length > 0)
    todo.push(
      tre.length === 1
        ? `TRE ${tre[0]}'s operators must put right what its reason says before the task can run there`
        : `the operators of TREs ${tre.join(", ")} must put right what their reasons say before the task can run there`,
    );
  if (unsaid.length > 0)
    todo.push(
      `the reason says what must change${at(unsaid)}: the analysis, or something a TRE's operator approves or sets up`,
    );
  todo.push(`\`tremesh status ${task.taskId}\` shows each TRE's history`);
  return [...lines, todo.join("; ")];
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
