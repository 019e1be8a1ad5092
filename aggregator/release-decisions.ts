/**
 * The reviewers' decisions inside a Release: who may sign them, and whether they approve exactly the
 * bytes released. The aggregator does not know a TRE's reviewers beforehand; the TRE vouches for them
 * by signing the Release (naming them in `reviewers` when it does), and a decision may also be signed
 * by the TRE's own key, its auto-release policy. See verify-release.ts for the whole rule set.
 */
import { type Decision, openEnvelope, peekEnvelope, TrustStore } from "../protocol/index.js";
import { Exclusion, ExclusionCode } from "./release-exclusion.js";

export type SignedDecision = Decision & { signer: string };

export interface DecisionContext {
  taskId: string;
  tre: string;
  treKey: string;
  /** Reviewer keys the Release names, when it names them. */
  vouched: readonly string[] | undefined;
  /** Reviewer keys the researcher pinned for this TRE, if any. */
  pinned: readonly string[] | undefined;
  now: number | undefined;
}

export function openDecision(bytes: Uint8Array, index: number, c: DecisionContext): SignedDecision {
  const at = `decision ${index + 1}`;
  const signer = peekEnvelope(bytes)?.signer;
  if (signer === undefined) throw new Exclusion(ExclusionCode.badDecision, `${at} is not an envelope`);
  const trust = new TrustStore().add({ publicKey: c.treKey, role: "tre", name: `tre:${c.tre}`, tre: c.tre });
  if (signer !== c.treKey) {
    const who = `${signer.slice(0, 8)}…`;
    if (c.pinned && !c.pinned.includes(signer))
      throw new Exclusion(
        ExclusionCode.badDecision,
        `${at} is signed by ${who}, not a pinned reviewer of ${c.tre}`,
      );
    if (c.vouched && !c.vouched.includes(signer))
      throw new Exclusion(
        ExclusionCode.badDecision,
        `${at} is signed by ${who}, not a reviewer the Release names`,
      );
    try {
      trust.add({ publicKey: signer, role: "reviewer", name: `reviewer:${c.tre}`, tre: c.tre });
    } catch {
      throw new Exclusion(ExclusionCode.badDecision, `${at}: signer is not an nkey public key`);
    }
  }
  const opened = openEnvelope(bytes, {
    trust,
    expect: "decision",
    allowExpired: true,
    ...(c.now === undefined ? {} : { now: c.now }),
  });
  if (!opened.ok) throw new Exclusion(ExclusionCode.badDecision, `${at}: ${opened.error.message}`);
  const d = opened.value.body;
  if (d.taskId !== c.taskId)
    throw new Exclusion(ExclusionCode.badDecision, `${at} is for task ${d.taskId}, not ${c.taskId}`);
  if (d.tre !== c.tre)
    throw new Exclusion(ExclusionCode.badDecision, `${at} is for TRE ${d.tre}, not ${c.tre}`);
  return { ...d, signer };
}

/** The reviewers approving one output; throws when they are too few or any decision disagrees. */
export function approvals(
  o: { outputId: string; name: string; digest: string },
  decisions: readonly SignedDecision[],
  minApprovals: number,
): string[] {
  const about = decisions.filter((d) => d.outputId === o.outputId);
  const label = `output ${o.name} (${o.outputId})`;
  if (about.some((d) => d.verdict === "reject"))
    throw new Exclusion(ExclusionCode.notApproved, `${label} is released although a reviewer rejected it`);
  if (about.some((d) => d.outputDigest !== o.digest))
    throw new Exclusion(
      ExclusionCode.notApproved,
      `${label}: a decision names another digest than the released one`,
    );
  const approvedBy = [...new Set(about.map((d) => d.signer))];
  if (approvedBy.length < minApprovals)
    throw new Exclusion(
      ExclusionCode.notApproved,
      approvedBy.length === 0
        ? `${label} has no approving decision`
        : `${label} has ${approvedBy.length} approving reviewer(s), ${minApprovals} needed`,
    );
  return approvedBy;
}
