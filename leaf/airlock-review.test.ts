import { describe, expect, it } from "vitest";
import { newId } from "../protocol/index.js";
import { applyDecision } from "./airlock-decision.js";
import { blindView } from "./airlock-review.js";
import type { HeldOutput } from "./airlock-store.js";

const DIGEST = "a".repeat(64);
const CHECKED = "b".repeat(64);

const held: HeldOutput = {
  taskId: newId(),
  outputId: newId(),
  name: "count.json",
  mediaType: "application/vnd.tremesh.output+msgpack",
  digest: DIGEST,
  size: 100,
  createdAt: 1,
  outcome: "fail",
  findings: [],
  releasableDigest: CHECKED,
  state: "pending",
  decisions: [],
};

/** `output` after `reviewer` (whose public key is `U` + their name) approves `digest`, under the two-reviewer rule. */
function approved(output: HeldOutput, reviewer: string, digest: string, reason?: string): HeldOutput {
  const decision = {
    id: newId(),
    iat: 1,
    exp: 2,
    tre: "a",
    taskId: output.taskId,
    outputId: output.outputId,
    outputDigest: digest,
    verdict: "approve" as const,
    ...(reason ? { reason } : {}),
  };
  const ctx = { reviewer, publicKey: `U${reviewer}`, envelope: "", approvalsRequired: 2, at: 3 };
  const r = applyDecision(output, decision, ctx);
  if (!r.ok) throw new Error(r.message);
  return r.output;
}

describe("a reviewer's view of an output under the two-reviewer rule", () => {
  const afterRita = approved(held, "rita", CHECKED);

  it("hides the other reviewer's decision, telling only that there is one, until this reviewer decides", () => {
    const sam = blindView(afterRita, "Usam", 2);
    expect(sam.decisions).toEqual([]);
    expect(sam.hidden).toBe(1);
    expect(JSON.stringify(sam)).not.toContain("rita");
  });

  it("shows a reviewer their own decision", () => {
    expect(blindView(afterRita, "Urita", 2)).toMatchObject({ decisions: [{ reviewer: "rita" }] });
    expect(blindView(afterRita, "Urita", 2).hidden).toBeUndefined();
  });

  it("shows every decision once the required reviews are in and disagree, for a further reviewer to settle", () => {
    const conflicted = approved(afterRita, "sam", DIGEST, "aggregate over a whole region");
    expect(conflicted.state).toBe("pending");
    const tom = blindView(conflicted, "Utom", 2);
    expect(tom.decisions.map((d) => d.reviewer)).toEqual(["rita", "sam"]);
    expect(tom.hidden).toBeUndefined();
  });

  it("shows every decision once the output is final", () => {
    const released = approved(afterRita, "sam", CHECKED);
    expect(released.state).toBe("released");
    expect(blindView(released, "Utom", 2).decisions).toHaveLength(2);
  });

  it("hides nothing when nobody has decided", () => {
    expect(blindView(held, "Usam", 2)).toMatchObject({ decisions: [] });
    expect(blindView(held, "Usam", 2).hidden).toBeUndefined();
  });
});
