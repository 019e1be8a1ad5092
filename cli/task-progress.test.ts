import { describe, expect, it } from "vitest";
import type { ChildView, TaskView } from "../protocol/index.js";
import { notReleasedLines } from "./task-progress.js";

function child(tre: string, state: ChildView["state"], reason: string, mend?: "analysis" | "tre"): ChildView {
  return {
    tre,
    state,
    history: [
      { state: "queued", at: 1, actor: "hub" },
      { state, at: 2, actor: `tre:${tre}/agent`, reason, ...(mend ? { mend } : {}) },
    ],
  };
}

function task(children: ChildView[]): TaskView {
  return {
    taskId: "T1",
    project: "p",
    researcher: "alice",
    tres: children.map((c) => c.tre),
    kind: "count",
    state: "failed",
    submittedAt: 1,
    updatedAt: 2,
    children,
  };
}

describe("notReleasedLines", () => {
  it("suggests fixing the analysis only for the TREs that said the analysis was at fault", () => {
    expect(
      notReleasedLines(
        task([
          child("a", "rejected", "analysis refused: groupBy[0]: no such column", "analysis"),
          child("b", "executor_error", "the task failed inside the TRE", "tre"),
          child("c", "rejected", "this TRE has not approved project p"),
          child("d", "withheld", "rita: too fine"),
        ]),
      ).at(-1),
    ).toBe(
      "fix the analysis and submit again (a, d); TRE b's operators must put right what its reason says before the task " +
        "can run there; the reason says what must change (c): the analysis, or something a TRE's operator approves or " +
        "sets up; `tremesh status T1` shows each TRE's history",
    );
  });

  it("names the TREs' operators, not the analysis, when every TRE says the failure is its own", () => {
    const lines = notReleasedLines(
      task([child("a", "executor_error", "x", "tre"), child("b", "expired", "never taken")]),
    );
    expect(lines.at(-1)).toBe(
      "the operators of TREs a, b must put right what their reasons say before the task can run there; " +
        "`tremesh status T1` shows each TRE's history",
    );
    expect(lines.join("\n")).not.toContain("fix the analysis");
  });
});
