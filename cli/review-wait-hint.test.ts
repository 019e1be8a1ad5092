import { describe, expect, it } from "vitest";
import type { ChildView, TaskView } from "../protocol/index.js";
import { ReviewWaitHint } from "./review-wait-hint.js";

const taskId = "01JD3ZQ8W5V6X7Y8Z9A0B1C2D3";

function view(states: Record<string, ChildView["state"]>): TaskView {
  const at = Date.UTC(2026, 11, 8);
  return {
    taskId,
    project: "diabetes",
    researcher: "alice",
    tres: Object.keys(states),
    kind: "count",
    state: "running",
    submittedAt: at,
    updatedAt: at,
    children: Object.entries(states).map(([tre, state]) => ({ tre, state, history: [] })),
  };
}

describe("ReviewWaitHint", () => {
  it("names, once each, the TREs whose review the follow has waited on for afterMs, and when the next is due", () => {
    const hint = new ReviewWaitHint(1_000);
    expect(hint.dueInMs(0)).toBe(Number.POSITIVE_INFINITY);
    expect(
      hint.due(view({ a: "outputs_pending_review", b: "running", c: "outputs_pending_review" }), 0),
    ).toBe(undefined);
    expect(hint.dueInMs(400)).toBe(600);
    expect(
      hint.due(
        view({ a: "outputs_pending_review", b: "outputs_pending_review", c: "outputs_pending_review" }),
        999,
      ),
    ).toBe(undefined);
    expect(
      hint.due(
        view({ a: "outputs_pending_review", b: "outputs_pending_review", c: "outputs_pending_review" }),
        1_000,
      ),
    ).toBe(
      `task ${taskId}: the reviewers of TREs a, c have not decided yet; each TRE's reviewers release or withhold its outputs on that TRE's review page, and the task waits until they do`,
    );
    // b has waited since 999; a and c are not said again.
    expect(hint.dueInMs(1_000)).toBe(999);
    expect(
      hint.due(view({ a: "outputs_pending_review", b: "outputs_pending_review", c: "released" }), 1_999),
    ).toBe(
      `task ${taskId}: TRE b's reviewers have not decided yet; the TRE's reviewers release or withhold its outputs on the TRE's review page, and the task waits until they do`,
    );
    expect(hint.due(view({ a: "outputs_pending_review", b: "outputs_pending_review" }), 60_000)).toBe(
      undefined,
    );
    expect(hint.dueInMs(60_000)).toBe(Number.POSITIVE_INFINITY);
  });

  it("starts a TRE's wait again when it leaves review before its hint", () => {
    const hint = new ReviewWaitHint(1_000);
    hint.due(view({ a: "outputs_pending_review" }), 0);
    hint.due(view({ a: "running" }), 800);
    expect(hint.due(view({ a: "outputs_pending_review" }), 900)).toBe(undefined);
    expect(hint.due(view({ a: "outputs_pending_review" }), 1_500)).toBe(undefined);
    expect(hint.due(view({ a: "outputs_pending_review" }), 1_900)).toMatch(/^task \S+: TRE a's reviewers/);
  });
});
