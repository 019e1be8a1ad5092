/**
 * A Release the aggregator verified, made into what a crate is built from: its decisions opened (their
 * signers were checked when the Release was verified; opening them again here only reads them), and its
 * released outputs with their bytes.
 */
import {
  type AnalysisOutput,
  OUTPUT_MEDIA_TYPE,
  openEnvelope,
  peekEnvelope,
  type Release,
  TrustStore,
} from "../protocol/index.js";
import type { CrateDecision, CrateRelease } from "./crate-input.js";

/** The parts of the aggregator's VerifiedRelease a crate needs. */
export interface VerifiedReleaseLike {
  tre: string;
  release: Release;
  outputs: ReadonlyArray<{ outputId: string; output: AnalysisOutput }>;
}

export class CrateInputError extends Error {
  override readonly name = "CrateInputError";
}

export function crateRelease(v: VerifiedReleaseLike, treKey: string, treKeyPinned: boolean): CrateRelease {
  const described = new Map(v.outputs.map((o) => [o.outputId, o.output]));
  return {
    tre: v.tre,
    treKey,
    treKeyPinned,
    releaseId: v.release.id,
    releasedAt: v.release.iat,
    outputs: v.release.outputs.map((o) => ({
      outputId: o.outputId,
      name: o.name,
      mediaType: o.mediaType ?? OUTPUT_MEDIA_TYPE,
      digest: o.digest,
      data: o.data,
      description: described.get(o.outputId),
    })),
    withheld: v.release.withheld,
    decisions: v.release.decisions.map((bytes, i) => openDecision(v, treKey, bytes, i)),
    reviewers: new Map((v.release.reviewers ?? []).map((r) => [r.publicKey, r.name])),
  };
}

function openDecision(v: VerifiedReleaseLike, treKey: string, bytes: Uint8Array, i: number): CrateDecision {
  const signer = peekEnvelope(bytes)?.signer;
  const trust = new TrustStore().add({ publicKey: treKey, role: "tre", name: `tre:${v.tre}`, tre: v.tre });
  if (signer !== undefined && signer !== treKey)
    trust.add({ publicKey: signer, role: "reviewer", name: `reviewer:${v.tre}`, tre: v.tre });
  const opened = openEnvelope(bytes, { trust, expect: "decision", allowExpired: true });
  if (!opened.ok || signer === undefined)
    throw new CrateInputError(`TRE ${v.tre}'s decision ${i + 1} does not open as a signed decision`);
  const d = opened.value.body;
  return {
    outputId: d.outputId,
    verdict: d.verdict,
    reason: d.reason,
    iat: d.iat,
    signer,
    envelope: bytes,
  };
}
