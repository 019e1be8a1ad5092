/**
 * What a results crate is built from: the researcher's verified view of one task at one TRE. Only what
 * the TRE released and signed, and the hub's record of the task's states, ever reaches a crate.
 */
import type { AnalysisOutput } from "../protocol/index.js";

/** One reviewer decision in a Release, already opened and verified. */
export interface CrateDecision {
  outputId: string;
  verdict: "approve" | "reject";
  reason?: string | undefined;
  /** When the reviewer signed it, ms since the epoch. */
  iat: number;
  /** The signer's public key (the TRE's own for its auto-release policy). */
  signer: string;
  /** The signed Decision envelope verbatim; kept in the crate only for released outputs. */
  envelope: Uint8Array;
}

/** One released output: an output description or a file, whose digest and approvals checked out. */
export interface CrateOutput {
  outputId: string;
  /** As the TRE named it (untrusted text). */
  name: string;
  mediaType: string;
  /** sha256 hex of `data`, the value the reviewers' decisions signed. */
  digest: string;
  data: Uint8Array;
  /** The decoded description, for an output description. */
  description?: AnalysisOutput | undefined;
}

/** One TRE's verified Release of the task. */
export interface CrateRelease {
  tre: string;
  /**
   * The TRE's signing key, and whether the researcher pinned it (or took the hub's word); absent in the TRE's
   * own crate, where the key is the TRE's.
   */
  treKey: string;
  treKeyPinned?: boolean;
  releaseId: string;
  /** When the TRE signed the Release, ms since the epoch. */
  releasedAt: number;
  outputs: CrateOutput[];
  /** Outputs the TRE kept: by name only, never their values. */
  withheld: ReadonlyArray<{ outputId: string; name: string; reason: string }>;
  decisions: CrateDecision[];
  /** Reviewer names by public key, as the Release vouches for them. */
  reviewers: ReadonlyMap<string, string>;
}

/**
 * The task as a crate states it: what the researcher asked for, and each TRE's states with their times (the
 * hub's record of them for the researcher, the TRE's own for its crate). The hub's TaskView is one.
 */
export interface CrateTask {
  taskId: string;
  project: string;
  researcher: string;
  kind: string;
  title?: string | undefined;
  submittedAt: number;
  children: ReadonlyArray<{ tre: string; history: ReadonlyArray<{ state: string; at: number }> }>;
}

export interface ResultsCrateInput {
  task: CrateTask;
  release: CrateRelease;
  /** When the crate is assembled (the publishing phase), ms since the epoch. */
  now: number;
  /** The tremesh version writing the crate. */
  softwareVersion: string;
  /**
   * The bag's `External-Identifier`: the request crate's when the task came from one, else
   * `urn:tremesh:task:TASK` (`externalIdentifier`); the same in every crate of the task.
   */
  externalId?: string | undefined;
}
