/**
 * A task can wait on a human review for as long as nobody does it: `watch` and `submit --wait` then showed
 * `outputs_pending_review` and nothing else. Once a TRE has awaited review for a while of the follow, this says whose
 * reviewers have not decided and where they decide, once per TRE, from the views the follow already fetches.
 */
import type { TaskView } from "../protocol/index.js";

/** How long a followed TRE awaits review before its hint is said, in ms: longer than a reviewer at hand takes. */
export const REVIEW_HINT_AFTER_MS = 60_000;

export class ReviewWaitHint {
  /** When this follow first saw each TRE awaiting review (the CLI's clock: a TRE's own may differ). */
  readonly #since = new Map<string, number>();
  readonly #told = new Set<string>();

  constructor(readonly afterMs = REVIEW_HINT_AFTER_MS) {}

  /** The hint for the TREs whose review has now been waited on `afterMs` and not yet hinted; undefined when none. */
  due(task: TaskView, now = Date.now()): string | undefined {
    const pending = new Set(
      task.children.filter((c) => c.state === "outputs_pending_review").map((c) => c.tre),
    );
    for (const tre of this.#since.keys()) if (!pending.has(tre)) this.#since.delete(tre);
    for (const tre of pending) if (!this.#since.has(tre)) this.#since.set(tre, now);
    const tres = [...this.#since]
      .filter(([tre, since]) => !this.#told.has(tre) && now - since >= this.afterMs)
      .map(([tre]) => tre);
    if (tres.length === 0) return undefined;
    for (const tre of tres) this.#told.add(tre);
    return tres.length === 1
      ? `task ${task.taskId}: TRE ${tres[0]}'s reviewers have not decided yet; the TRE's reviewers release or withhold its outputs on the TRE's review page, and the task waits until they do`
      : `task ${task.taskId}: the reviewers of TREs ${tres.join(", ")} have not decided yet; each TRE's reviewers release or withhold its outputs on that TRE's review page, and the task waits until they do`;
  }

  /** How long until a hint may be due, in ms; Infinity while no TRE awaits review unhinted. */
  dueInMs(now = Date.now()): number {
    let soonest = Number.POSITIVE_INFINITY;
    for (const [tre, since] of this.#since)
      if (!this.#told.has(tre)) soonest = Math.min(soonest, Math.max(0, since + this.afterMs - now));
    return soonest;
  }
}
