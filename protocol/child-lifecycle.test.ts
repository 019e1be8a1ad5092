import { describe, expect, it } from "vitest";
import {
  ChildTransitionError,
  checkChildStep,
  childSteps,
  deriveParentState,
  isChildStep,
  isPassedStep,
  isRetryStep,
  isSettled,
  isTerminal,
  mayTransition,
} from "./child-lifecycle.js";
import { type ChildState, childStates } from "./messages.js";

describe("task life cycle", () => {
  it("derives the parent from its children", () => {
    expect(deriveParentState(["queued", "queued"], false)).toBe("submitted");
    expect(deriveParentState(["queued", "queued"], true)).toBe("dispatched");
    expect(deriveParentState(["running", "queued"], true)).toBe("running");
    expect(deriveParentState(["released", "delivered"], true)).toBe("completed");
    expect(deriveParentState(["released", "rejected"], true)).toBe("partial");
    expect(deriveParentState(["rejected", "executor_error"], true)).toBe("failed");
    expect(deriveParentState(["cancelled", "cancelled"], true)).toBe("cancelled");
    expect(deriveParentState(["cancelled", "withheld"], true)).toBe("failed");
  });

  it("never reopens a finished child, and allows delivery after release", () => {
    expect(mayTransition("queued", "received")).toBe(true);
    expect(mayTransition("running", "outputs_pending_review")).toBe(true);
    expect(mayTransition("rejected", "running")).toBe(false);
    expect(mayTransition("cancelled", "running")).toBe(false);
    expect(mayTransition("released", "delivered")).toBe(true);
    expect(mayTransition("released", "running")).toBe(false);
    expect(mayTransition("running", "running")).toBe(false);
  });

  it("never moves a child backwards when events arrive out of order", () => {
    expect(mayTransition("outputs_pending_review", "running")).toBe(false);
    expect(mayTransition("running", "received")).toBe(false);
    expect(mayTransition("queued", "running")).toBe(true);
    expect(mayTransition("running", "cancel_requested")).toBe(true);
    expect(mayTransition("cancel_requested", "running")).toBe(false);
    expect(mayTransition("cancel_requested", "cancelled")).toBe(true);
  });

  it("knows a TRE's step reported after a later state as a late report, but never an end or a cancel", () => {
    expect(isPassedStep("released", "running")).toBe(true);
    expect(isPassedStep("executor_error", "received")).toBe(true);
    expect(isPassedStep("outputs_pending_review", "accepted")).toBe(true);
    expect(isPassedStep("running", "outputs_pending_review")).toBe(false); // a move forward, not a late step
    expect(isPassedStep("released", "cancelled")).toBe(false);
    expect(isPassedStep("released", "cancel_requested")).toBe(false);
    expect(isPassedStep("rejected", "executor_error")).toBe(false);
  });

  it("lets the hub follow every step a TRE takes, except the leaf's own step back to its decision after a restart", () => {
    const leafOnly = ["accepted→received"];
    const refused: string[] = [];
    for (const from of childStates)
      for (const to of childSteps[from]) {
        // The retry step starts the next attempt, and its event says so.
        const attempts = isRetryStep(from, to) ? { from: 1, to: 2 } : {};
        if (!mayTransition(from, to, attempts)) refused.push(`${from}→${to}`);
      }
    expect(refused).toEqual(leafOnly);
  });

  it("ends a child the hub found expired, unless the TRE's own late word says it took the task", () => {
    expect(mayTransition("queued", "expired")).toBe(true);
    expect(mayTransition("cancel_requested", "expired")).toBe(true);
    expect(mayTransition("running", "expired")).toBe(true); // never made by the hub, but an end is an end
    expect(mayTransition("expired", "received")).toBe(true);
    expect(mayTransition("expired", "released")).toBe(true);
    expect(mayTransition("expired", "cancel_requested")).toBe(false);
    expect(mayTransition("expired", "expired")).toBe(false);
    expect(isTerminal("expired")).toBe(true);
    expect(deriveParentState(["expired", "released"], true)).toBe("partial");
  });

  it("orders a retried child's events by attempt first, so a late event of an earlier run never moves it back", () => {
    expect(mayTransition("running", "accepted", { from: 1, to: 2 })).toBe(true);
    expect(mayTransition("running", "accepted", { from: 1, to: 1 })).toBe(false);
    // Attempt 2's `running` arriving before its own `accepted`, then the `accepted` as a late step.
    expect(mayTransition("running", "running", { from: 1, to: 2 })).toBe(true);
    expect(mayTransition("running", "accepted", { from: 2, to: 2 })).toBe(false);
    expect(isPassedStep("running", "accepted", { from: 2, to: 2 })).toBe(true);
    // Attempt 1's `outputs_pending_review`-less `running`, late, after attempt 2 began.
    expect(mayTransition("accepted", "running", { from: 2, to: 1 })).toBe(false);
    expect(isPassedStep("accepted", "running", { from: 2, to: 1 })).toBe(true);
    // A TRE's end state ends a child at any step, but never reopens one.
    expect(mayTransition("accepted", "rejected", { from: 2, to: 2 })).toBe(true);
    expect(mayTransition("executor_error", "accepted", { from: 1, to: 2 })).toBe(false);
    expect(isRetryStep("running", "accepted")).toBe(true);
    expect(isChildStep("running", "accepted")).toBe(true);
  });

  it("ends nothing that can still move, and settles the leaf's part at review", () => {
    for (const s of childStates) {
      const ended = childSteps[s].length === 0 || childSteps[s].every((t) => t === "delivered");
      expect(isTerminal(s), s).toBe(ended);
    }
    expect(childStates.filter((s) => isSettled(s) && !isTerminal(s))).toEqual(["outputs_pending_review"]);
  });

  it("throws a typed error for a step the life cycle does not have", () => {
    expect(() => checkChildStep("t1", "received", "accepted")).not.toThrow();
    const illegal: [ChildState, ChildState][] = [
      ["running", "received"],
      ["cancelled", "running"],
      ["outputs_pending_review", "executor_error"],
      ["received", "running"],
    ];
    for (const [from, to] of illegal) {
      const thrown = (() => {
        try {
          checkChildStep("t1", from, to);
        } catch (e) {
          return e;
        }
      })();
      expect(thrown).toBeInstanceOf(ChildTransitionError);
      expect(thrown).toMatchObject({ taskId: "t1", from, to });
    }
  });
});
