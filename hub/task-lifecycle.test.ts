import { describe, expect, it } from "vitest";
import { deriveParentState, isPassedStep, mayTransition } from "./task-lifecycle.js";

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
});
