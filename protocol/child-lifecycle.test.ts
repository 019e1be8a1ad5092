import { describe, expect, it } from "vitest";
import {
  ChildTransitionError,
  checkChildStep,
  childSteps,
  deriveParentState,
  isPassedStep,
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

  it("lets the hub follow every step a TRE takes, except the leaf's own steps back after a restart", () => {
    const leafOnly = ["accepted→received", "accepted→rejected"];
    const refused: string[] = [];
    for (const from of childStates)
      for (const to of childSteps[from]) if (!mayTransition(from, to)) refused.push(`${from}→${to}`);
    expect(refused).toEqual(leafOnly);
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
      ["running", "accepted"],
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
