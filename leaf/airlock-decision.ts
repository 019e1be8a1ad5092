/**
 * The rules of one decision on one held output, as a pure function: given the output's record and a
 * verified Decision, either the record after it or the reason it is refused.
 *
 * - A final decision (released or withheld) never changes.
 * - A reviewer decides an output once; with the two-reviewer rule, two different reviewers must approve the
 *   same bytes before they are released. One rejection withholds the output.
 * - An approval signs the digest of the bytes to be released: the releasable form (failing cells withheld,
 *   counts rounded) or, as a recorded override with a reason, the output as the executor made it.
 * - A rejection signs the output's own digest and says why.
 */
import { AirlockErrorCode, type Decision } from "../protocol/index.js";
import type { HeldDecision, HeldOutput } from "./airlock-store.js";

export type DecisionOutcome =
  | { ok: true; output: HeldOutput }
  | { ok: false; code: AirlockErrorCode; message: string };

export interface DecisionContext {
  reviewer: string;
  publicKey: string;
  /** The Decision envelope, base64, kept for the Release. */
  envelope: string;
  /** Approvals of the same bytes, by different reviewers, that release an output. 1 or 2. */
  approvalsRequired: number;
  at: number;
}

export function applyDecision(output: HeldOutput, decision: Decision, ctx: DecisionContext): DecisionOutcome {
  const refuse = (code: AirlockErrorCode, message: string): DecisionOutcome => ({ ok: false, code, message });
  if (output.state !== "pending") {
    return refuse(
      AirlockErrorCode.alreadyDecided,
      `output ${output.outputId} is already ${output.state}; a final decision cannot be changed`,
    );
  }
  if (output.decisions.some((d) => d.publicKey === ctx.publicKey)) {
    return refuse(
      AirlockErrorCode.alreadyReviewed,
      `${ctx.reviewer} has already decided on ${output.outputId}`,
    );
  }
  const reason = decision.reason?.trim() ? decision.reason.trim() : undefined;
  if (decision.verdict === "reject") {
    if (decision.outputDigest !== output.digest) {
      return refuse(AirlockErrorCode.digestMismatch, "a rejection must sign the output's own digest");
    }
    if (!reason) return refuse(AirlockErrorCode.reasonRequired, "a rejection needs a reason");
  } else {
    const releasesForm = decision.outputDigest === output.releasableDigest;
    const releasesAsIs = decision.outputDigest === output.digest;
    if (!releasesForm && !releasesAsIs) {
      return refuse(
        AirlockErrorCode.digestMismatch,
        "the approval signs neither the output's digest nor its releasable form's",
      );
    }
    // Releasing the executor's bytes when the checks would change them is an override: it must say why.
    const override = !releasesForm && (output.releasableDigest !== undefined || output.outcome === "fail");
    if (override && !reason) {
      return refuse(
        AirlockErrorCode.reasonRequired,
        output.outcome === "fail"
          ? "releasing an output that failed the disclosure checks as it is needs a reason"
          : "releasing an output without its disclosure treatment (rounding) needs a reason",
      );
    }
  }
  const entry: HeldDecision = {
    reviewer: ctx.reviewer,
    publicKey: ctx.publicKey,
    verdict: decision.verdict,
    digest: decision.outputDigest,
    ...(reason ? { reason } : {}),
    at: ctx.at,
    envelope: ctx.envelope,
  };
  const decisions = [...output.decisions, entry];
  const next: HeldOutput = { ...output, decisions };
  if (decision.verdict === "reject") {
    return { ok: true, output: { ...next, state: "withheld", decidedAt: ctx.at } };
  }
  const approvals = decisions.filter((d) => d.verdict === "approve" && d.digest === decision.outputDigest);
  if (approvals.length >= ctx.approvalsRequired) {
    return {
      ok: true,
      output: { ...next, state: "released", releasedDigest: decision.outputDigest, decidedAt: ctx.at },
    };
  }
  return { ok: true, output: next };
}

/** Why an output was withheld, for the Release and the researcher: the rejecting reviewer's reason. */
export function withheldReason(output: HeldOutput): string {
  const rejection = output.decisions.find((d) => d.verdict === "reject");
  return rejection ? `${rejection.reviewer}: ${rejection.reason ?? "rejected"}` : "withheld";
}
