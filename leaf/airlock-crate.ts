/**
 * The TRE's own Five Safes RO-Crate of a task, built when its Release is: the task's states at this TRE (the
 * agent's record), every reviewer's decision, the released outputs as released, the withheld ones by the
 * name the Release gives them and no more. Signed by the TRE's key over its tag files, so that anyone holding
 * the crate can check it against the key that signs the TRE's Releases. The Release carries it without the
 * files the Release holds already; the TRE rebuilds its copy from the Release it kept (`tremesh airlock crate`).
 */
import { softwareVersion } from "../common/index.js";
import {
  type CrateRelease,
  carriedDigests,
  crateFromRelease,
  MAX_RELEASE_CRATE_BYTES,
  zipResultsCrate,
} from "../crate/index.js";
import {
  decodeOutput,
  OUTPUT_MEDIA_TYPE,
  openEnvelope,
  type Release,
  type SigningKey,
  TrustStore,
} from "../protocol/index.js";
import type { HeldOutput, HeldTask } from "./airlock-store.js";

/** The task's transitions at this TRE, with their times. */
export type CrateHistory = ReadonlyArray<{ state: string; at: number }>;

/**
 * The crate the Release carries (signed, without the Release's own files), or undefined when even that would
 * not fit a Release: the Release goes without it rather than not at all.
 */
export function treCrate(
  task: HeldTask,
  outputs: readonly HeldOutput[],
  release: Release,
  ctx: { tre: string; treKey: SigningKey; history: CrateHistory },
): Uint8Array | undefined {
  const partial = zipResultsCrate(
    {
      task: {
        taskId: task.taskId,
        project: task.project,
        researcher: task.researcher,
        kind: task.kind,
        title: task.title,
        submittedAt: task.submittedAt ?? ctx.history[0]?.at ?? task.heldAt,
        children: [{ tre: ctx.tre, history: ctx.history }],
      },
      release: crateReleaseOf(release, outputs, ctx.treKey.publicKey),
      now: release.iat,
      softwareVersion: softwareVersion(),
      externalId: task.externalId,
    },
    ctx.treKey,
    carriedDigests(carriedFiles(release)),
  );
  return partial.length <= MAX_RELEASE_CRATE_BYTES ? partial : undefined;
}

/** The TRE's crate whole again from the Release it signed (its own, kept in the airlock's store). */
export function crateOfRelease(envelope: Uint8Array, tre: string, treKey: string): Uint8Array | undefined {
  const trust = new TrustStore().add({ publicKey: treKey, role: "tre", name: `tre:${tre}`, tre });
  const opened = openEnvelope(envelope, { trust, expect: "release", allowExpired: true });
  if (!opened.ok || !opened.value.body.crate) return undefined;
  return crateFromRelease(opened.value.body.crate, carriedFiles(opened.value.body));
}

/** The files a Release carries itself: the released outputs' bytes and the signed decisions. */
const carriedFiles = (r: Pick<Release, "outputs" | "decisions">) => [
  ...r.outputs.map((o) => o.data),
  ...r.decisions,
];

/** The Release as a crate states it, with every reviewer's decision (a withheld output's without its envelope). */
function crateReleaseOf(release: Release, held: readonly HeldOutput[], treKey: string): CrateRelease {
  const reviewers = new Map<string, string>();
  for (const o of held)
    for (const d of o.decisions) if (d.publicKey !== treKey) reviewers.set(d.publicKey, d.reviewer);
  return {
    tre: release.tre,
    treKey,
    releaseId: release.id,
    releasedAt: release.iat,
    outputs: release.outputs.map((o) => ({
      outputId: o.outputId,
      name: o.name,
      mediaType: o.mediaType ?? OUTPUT_MEDIA_TYPE,
      digest: o.digest,
      data: o.data,
      description: o.mediaType === undefined ? described(o.data) : undefined,
    })),
    withheld: release.withheld,
    // A withheld output's decisions say who withheld it and why; their envelopes (which sign its digest) stay
    // out of the crate, as tre-phases.ts keeps only released outputs' evidence.
    decisions: held.flatMap((o) =>
      o.decisions.map((d) => ({
        outputId: o.outputId,
        verdict: d.verdict,
        reason: d.reason,
        iat: d.at,
        signer: d.publicKey,
        envelope: new Uint8Array(Buffer.from(d.envelope, "base64")),
      })),
    ),
    reviewers,
  };
}

function described(data: Uint8Array) {
  try {
    return decodeOutput(data);
  } catch {
    return undefined;
  }
}
