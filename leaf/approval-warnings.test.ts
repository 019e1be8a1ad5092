import { describe, expect, it } from "vitest";
import { approvalWarnings } from "./approval-warnings.js";

const approved = {
  datasets: [
    { name: "patients", engine: "csv" as const, path: "p.csv", columns: { age: "numeric" as const } },
  ],
  projects: [{ name: "p", researchers: ["alice"], analyses: ["count" as const], datasets: ["patients"] }],
  reviewers: [{ name: "rita", publicKey: "UA" }],
  review: { approvalsRequired: 1, autoRelease: false },
};

describe("approvalWarnings", () => {
  it("says nothing of a leaf.yaml that approves work and names who releases it", () => {
    expect(approvalWarnings(approved)).toEqual([]);
    expect(
      approvalWarnings({ ...approved, reviewers: [], review: { approvalsRequired: 1, autoRelease: true } }),
    ).toEqual([]);
  });

  it("warns of a bundle's empty template: no dataset, no project, nobody to release", () => {
    expect(approvalWarnings({ ...approved, datasets: [], projects: [], reviewers: [] })).toEqual([
      "leaf.yaml registers no dataset (datasets: []): every analysis will be rejected",
      "leaf.yaml approves no project (projects: []): every task will be rejected; add the projects, their researchers and datasets this TRE approves",
      "leaf.yaml names no reviewer (reviewers: []) and auto-release is off: outputs will wait in the airlock with nobody to release them",
    ]);
  });
});
