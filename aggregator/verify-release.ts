/**
 * The aggregator's gate: which TRE-signed Releases of a task may be used at all. Nothing is combined
 * before its Release has checked out here, and an unverifiable Release is set aside with the reason,
 * never thrown, so one bad TRE cannot stop the researcher from seeing the others.
 *
 * A Release is accepted only if all of this holds:
 * - it opens as a `release` signed by the key pinned for that TRE, names that TRE and the task. Expiry
 *   is not checked: Releases are read long after they were sent, and the signature still binds them;
 * - every Decision inside it opens as a `decision` for the same task and TRE, signed either by the TRE's
 *   own key (its auto-release policy) or by a reviewer. The aggregator does not know the TRE's reviewers
 *   beforehand: the TRE vouches for them by signing the Release, naming them in `reviewers` when it
 *   does (a decision by a key not named there is then refused). `reviewerKeys` pins them when known;
 * - every released output's `digest` is the sha256 of its bytes and at least `minApprovals` distinct
 *   signers approve exactly that output id and digest. A decision that rejects a released output, or
 *   names it with another digest, refuses the whole Release: the aggregator cannot tell a reviewer's
 *   changed mind from a TRE overriding its reviewer, or know which bytes the reviewer really saw, and
 *   a Release that contradicts itself is not evidence of anything;
 * - output ids are unique across released and withheld outputs, and every released output marked as an
 *   output description (no `mediaType`, or OUTPUT_MEDIA_TYPE) decodes as one (`decodeOutput`), since
 *   only those can be combined. A released output of any other media type is a file a reviewer approved
 *   as it is (a CSV table, a plot): it passes the same digest and approval checks, is never decoded and
 *   never combined, and comes back in `files` with its bytes.
 * Two verified Releases for one TRE (a task is released at most once) are both set aside unless they
 * are the same Release delivered twice.
 */
import { createHash } from "node:crypto";
import {
  type AnalysisOutput,
  decodeOutput,
  FieldError,
  OUTPUT_MEDIA_TYPE,
  openEnvelope,
  type Release,
  type ReleasedOutput,
  TrustStore,
} from "../protocol/index.js";
import { approvals, openDecision } from "./release-decisions.js";
import { type ExcludedRelease, Exclusion, ExclusionCode } from "./release-exclusion.js";

/** What every released output that checked out carries: its bytes hash to `digest`, and enough reviewers approved that. */
interface VerifiedBase {
  outputId: string;
  /** As the TRE named it: untrusted text (up to 200 characters of anything), never to be used as a path as it is. */
  name: string;
  digest: string;
  /** Public keys of the reviewers who approved it (the TRE's own key for an auto-release). */
  approvedBy: string[];
  /** Released by the TRE's auto-release policy alone: no human reviewer approved it. */
  autoReleased: boolean;
}

/** One released output description whose bytes, digest and approvals checked out, decoded: what combining reads. */
export interface VerifiedOutput extends VerifiedBase {
  output: AnalysisOutput;
}

/**
 * One released file (any media type but OUTPUT_MEDIA_TYPE) whose digest and approvals checked out. Its
 * bytes are what the reviewer approved, not decoded or interpreted here, and never combined.
 */
export interface VerifiedFile extends VerifiedBase {
  /** A bare media type (`text/csv`), as the Release carries it. */
  mediaType: string;
  data: Uint8Array;
}

export interface VerifiedRelease {
  tre: string;
  /** The Release body as signed (outputs still carry their bytes). */
  release: Release;
  /** The output descriptions, in Release order: the only outputs combining sees. */
  outputs: VerifiedOutput[];
  /** The released files (CSV tables, plots, reports…), in Release order. */
  files: VerifiedFile[];
  /** Outputs kept inside the TRE, by name and reason. */
  withheld: Release["withheld"];
  /** Public keys of every signer of the decisions the Release carries (the TRE's own for auto-release). */
  reviewers: string[];
}

export interface VerifyOptions {
  /**
   * Reviewer public keys per TRE; when a TRE has an entry, decisions by any other reviewer key are
   * refused (the TRE's own auto-release decisions still count: see `VerifiedOutput.autoReleased` to
   * tell them apart). Default: none pinned, the TRE's word is taken.
   */
  reviewerKeys?: ReadonlyMap<string, readonly string[]>;
  /**
   * Distinct approving signers each released output needs. Default 1 (set 2 for a two-reviewer rule;
   * the TRE's own auto-release approval counts as one).
   */
  minApprovals?: number;
  /**
   * Largest Release envelope read, in bytes. Default 64 MiB: the researcher asked for these Releases,
   * and a hub may run with a larger max_payload than NATS's default 1 MiB.
   */
  maxEnvelopeBytes?: number;
  /** Current time in ms, for the issued-in-the-future check. Default `Date.now()`. */
  now?: number;
}

/**
 * Verifies the Releases of one task against the pinned TRE keys.
 *
 * @example
 * const { accepted, excluded } = verifyReleases(taskId, await fetchReleases(nc, key, taskId), treKeys);
 * for (const x of excluded) console.error(`${x.tre}: ${x.reason}`);
 */
export function verifyReleases(
  taskId: string,
  items: readonly { tre: string; envelope: Uint8Array }[],
  treKeys: ReadonlyMap<string, string>,
  opts: VerifyOptions = {},
): { accepted: VerifiedRelease[]; excluded: ExcludedRelease[] } {
  const excluded: ExcludedRelease[] = [];
  const byTre = new Map<string, VerifiedRelease[]>();
  for (const { tre, envelope } of items) {
    try {
      const verified = verifyOne(taskId, tre, envelope, treKeys, opts);
      byTre.set(tre, [...(byTre.get(tre) ?? []), verified]);
    } catch (e) {
      // Like openEnvelope: whatever the tests have not foreseen still becomes a reason, not a crash.
      const x =
        e instanceof Exclusion
          ? e
          : new Exclusion(ExclusionCode.badRelease, `could not be verified: ${String(e)}`);
      excluded.push({ tre, code: x.code, reason: x.message });
    }
  }
  const accepted: VerifiedRelease[] = [];
  for (const [tre, releases] of byTre) {
    const ids = new Set(releases.map((r) => r.release.id));
    const first = releases[0];
    if (ids.size === 1 && first) accepted.push(first);
    else
      excluded.push({
        tre,
        code: ExclusionCode.conflictingReleases,
        reason: `${ids.size} different Releases for one task (${[...ids].join(", ")}); a task is released once`,
      });
  }
  return { accepted, excluded };
}

function verifyOne(
  taskId: string,
  tre: string,
  envelope: Uint8Array,
  treKeys: ReadonlyMap<string, string>,
  opts: VerifyOptions,
): VerifiedRelease {
  const treKey = treKeys.get(tre);
  if (treKey === undefined) throw new Exclusion(ExclusionCode.unknownTre, `no key is pinned for TRE ${tre}`);
  let trust: TrustStore;
  try {
    trust = new TrustStore().add({ publicKey: treKey, role: "tre", name: `tre:${tre}`, tre });
  } catch {
    throw new Exclusion(ExclusionCode.unknownTre, `the key pinned for TRE ${tre} is not an nkey public key`);
  }
  const opened = openEnvelope(envelope, {
    trust,
    expect: "release",
    allowExpired: true,
    maxBytes: opts.maxEnvelopeBytes ?? 64 * 1024 * 1024,
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  if (!opened.ok) throw new Exclusion(ExclusionCode.badRelease, `release: ${opened.error.message}`);
  const release = opened.value.body;
  if (release.tre !== tre)
    throw new Exclusion(ExclusionCode.wrongTask, `release names TRE ${release.tre}, not ${tre}`);
  if (release.taskId !== taskId)
    throw new Exclusion(ExclusionCode.wrongTask, `release is for task ${release.taskId}, not ${taskId}`);

  const vouched = release.reviewers?.map((r) => r.publicKey);
  const context = { taskId, tre, treKey, vouched, pinned: opts.reviewerKeys?.get(tre), now: opts.now };
  const decisions = release.decisions.map((bytes, i) => openDecision(bytes, i, context));
  checkUniqueIds(release);
  const outputs: VerifiedOutput[] = [];
  const files: VerifiedFile[] = [];
  for (const o of release.outputs) {
    const digest = createHash("sha256").update(o.data).digest("hex");
    if (digest !== o.digest)
      throw new Exclusion(
        ExclusionCode.digestMismatch,
        `output ${o.name} (${o.outputId}): bytes hash to ${digest.slice(0, 12)}…, not its digest ${o.digest.slice(0, 12)}…`,
      );
    const approvedBy = approvals(o, decisions, opts.minApprovals ?? 1);
    const base = {
      outputId: o.outputId,
      name: o.name,
      digest: o.digest,
      approvedBy,
      autoReleased: approvedBy.every((k) => k === treKey),
    };
    const mediaType = fileMediaType(o);
    if (mediaType === undefined) outputs.push({ ...base, output: decodeDescription(o) });
    else files.push({ ...base, mediaType, data: o.data });
  }
  return {
    tre,
    release,
    outputs,
    files,
    withheld: release.withheld,
    reviewers: [...new Set(decisions.map((d) => d.signer))],
  };
}

/** The media type of a released file, or undefined for an output description (media types are case-insensitive). */
function fileMediaType(o: ReleasedOutput): string | undefined {
  return o.mediaType === undefined || o.mediaType.toLowerCase() === OUTPUT_MEDIA_TYPE
    ? undefined
    : o.mediaType;
}

function decodeDescription(o: ReleasedOutput): AnalysisOutput {
  try {
    return decodeOutput(o.data);
  } catch (e) {
    const problem = e instanceof FieldError ? e.message : String(e);
    throw new Exclusion(
      ExclusionCode.badOutput,
      `output ${o.name} (${o.outputId}) is not an output description: ${problem}`,
    );
  }
}

function checkUniqueIds(release: Release): void {
  const seen = new Set<string>();
  for (const o of [...release.outputs, ...release.withheld]) {
    if (seen.has(o.outputId))
      throw new Exclusion(ExclusionCode.duplicateOutput, `output id ${o.outputId} appears more than once`);
    seen.add(o.outputId);
  }
}
