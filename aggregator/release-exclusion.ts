/**
 * Why the aggregator set a Release aside. Verification steps throw an `Exclusion`; `verifyReleases`
 * turns it into an `ExcludedRelease` record, so a bad Release is reported, never thrown to the caller.
 */

/** Why a Release was set aside; one table so programs classify by code, never by text. */
export const ExclusionCode = {
  /** No key is pinned for the TRE the Release came from. */
  unknownTre: "unknown_tre",
  /** The Release envelope did not open: garbage, wrong type, unpinned signer, bad signature… */
  badRelease: "bad_release",
  /** The Release is for another task or names another TRE. */
  wrongTask: "wrong_task",
  /** A decision inside did not open, or is for another task or TRE, or is signed by a non-reviewer. */
  badDecision: "bad_decision",
  /** A released output's bytes do not hash to its digest. */
  digestMismatch: "digest_mismatch",
  /** A released output lacks the approvals it needs, or a decision rejects it or names another digest. */
  notApproved: "not_approved",
  /** Output ids repeat. */
  duplicateOutput: "duplicate_output",
  /** A released output marked as an output description (no media type, or OUTPUT_MEDIA_TYPE) does not decode as one. */
  badOutput: "bad_output",
  /** More than one different verified Release for the same TRE. */
  conflictingReleases: "conflicting_releases",
} as const;
export type ExclusionCode = (typeof ExclusionCode)[keyof typeof ExclusionCode];

export interface ExcludedRelease {
  tre: string;
  code: ExclusionCode;
  /** For people: what failed, naming the output or decision at fault. */
  reason: string;
}

/** Thrown inside verification and caught by `verifyReleases`; never escapes it. */
export class Exclusion extends Error {
  override readonly name = "Exclusion";
  constructor(
    readonly code: ExclusionCode,
    message: string,
  ) {
    super(message);
  }
}
