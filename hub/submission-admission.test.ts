import { describe, expect, it } from "vitest";
import { newId, type Submission } from "../protocol/index.js";
import type { Project, Researcher } from "./registry.js";
import { admitSubmission } from "./submission-admission.js";

const now = Date.UTC(2026, 5, 1);
const alice: Researcher = { name: "alice", publicKey: `U${"A".repeat(55)}` };
const project: Project = {
  name: "diabetes-2026",
  startsAt: Date.UTC(2026, 0, 1),
  endsAt: Date.UTC(2027, 0, 1),
  tres: ["a", "b"],
  members: ["alice"],
};
const submission = (tres = ["a", "b"]): Submission => ({
  id: newId(now),
  iat: now,
  exp: now + 3600_000,
  project: "diabetes-2026",
  tres,
  analysis: { kind: "count", dataset: "patients" },
});

describe("admitSubmission", () => {
  it("admits a member's submission to the project's TREs while the project is approved", () => {
    expect(admitSubmission(submission(), alice, project, now)).toEqual({
      ok: true,
      researcher: alice,
      project,
    });
  });

  it("refuses an unregistered researcher before anything else", () => {
    expect(admitSubmission(submission(), undefined, undefined, now)).toEqual({
      ok: false,
      code: "unknown_signer",
      message: "researcher is not registered",
    });
  });

  it("refuses an unknown project, naming the field", () => {
    expect(admitSubmission(submission(), alice, undefined, now)).toMatchObject({
      ok: false,
      code: "unknown_project",
      field: "project",
    });
  });

  it("refuses a researcher who is not a member", () => {
    const bob = { ...alice, name: "bob" };
    expect(admitSubmission(submission(), bob, project, now)).toMatchObject({
      ok: false,
      code: "not_a_member",
      message: "bob is not a member of diabetes-2026",
    });
  });

  it("refuses outside the project's approval, its end included", () => {
    for (const at of [project.startsAt - 1, project.endsAt]) {
      expect(admitSubmission(submission(), alice, project, at)).toMatchObject({
        ok: false,
        code: "project_inactive",
      });
    }
    expect(admitSubmission(submission(), alice, project, project.startsAt).ok).toBe(true);
  });

  it("refuses a TRE that is not on the project, naming which", () => {
    expect(admitSubmission(submission(["a", "c"]), alice, project, now)).toEqual({
      ok: false,
      code: "tre_not_in_project",
      message: 'TRE "c" is not on project diabetes-2026',
      field: "tres[1]",
    });
  });
});
