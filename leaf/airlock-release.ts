/**
 * Building the one message that may leave the TRE: when every output of a task is decided, the TRE signs a
 * Release carrying the released outputs' bytes and their reviewers' signed decisions, and names the withheld
 * outputs with their reasons, never their values. It carries the TRE's Five Safes RO-Crate of the task too,
 * signed by the TRE (airlock-crate.ts).
 */
import {
  MEDIA_TYPE,
  newId,
  OUTPUT_MEDIA_TYPE,
  type ReleasedOutput,
  type ReleaseOutcome,
  releaseOutcome,
  type SigningKey,
  sealEnvelope,
} from "../protocol/index.js";
import { type CrateHistory, treCrate } from "./airlock-crate.js";
import { withheldReason } from "./airlock-decision.js";
import type { AirlockStore, EgressRecord, HeldOutput, HeldRecords, HeldTask } from "./airlock-store.js";
import { type PassedStep, passedSteps } from "./status-publisher.js";

/** The reviewer name of a decision the TRE made itself, by its auto-release policy. */
export const AUTO_RELEASE = "auto-release";

const RELEASE_LIFETIME_MS = 30 * 86_400_000;

/** What building a Release needs: who signs it, where the outputs' bytes are, the time, and for its crate the task's states at this TRE. */
export interface ReleaseContext {
  tre: string;
  treKey: SigningKey;
  store: AirlockStore;
  /** The outputs' bytes as the airlock held them just now, when it still has them (not read back then). */
  bytes?: NonNullable<HeldRecords["written"]>["bytes"];
  now: number;
  history: CrateHistory;
  /**
   * The step the Release stands for (`Release.status`): who takes it, in which run, and the steps passed on the
   * way not announced yet (the task's progress, an `outputs_pending_review` recorded with the release).
   */
  status: { actor: string; attempt: number; passed: readonly PassedStep[] };
}

/** Signs the Release of a task whose outputs are all decided, as the record the store keeps until it is sent. */
export async function buildRelease(
  task: HeldTask,
  outputs: readonly HeldOutput[],
  ctx: ReleaseContext,
): Promise<EgressRecord> {
  const released = outputs.filter((o) => o.state === "released");
  const withheld = outputs.filter((o) => o.state === "withheld");
  const releasedOutputs: ReleasedOutput[] = [];
  for (const o of released) {
    const releasable = o.releasedDigest === o.releasableDigest;
    const known = ctx.bytes?.[o.outputId];
    const data =
      (releasable ? known?.releasable : known?.data) ??
      (await ctx.store.bytes(o, releasable ? "releasable" : "data"));
    if (!data) throw new Error(`the bytes of output ${o.outputId} are missing from the airlock`);
    const mediaType = releasedMediaType(o.mediaType);
    releasedOutputs.push({
      outputId: o.outputId,
      name: o.name,
      ...(mediaType ? { mediaType } : {}),
      digest: o.releasedDigest ?? o.digest,
      data,
    });
  }
  const withheldEntries = withheld.map((o, i) => ({
    outputId: o.outputId,
    // A container chose its files' names; a withheld one's name could carry what was withheld.
    name: task.kind === "container" ? `withheld-output-${i + 1}` : o.name,
    reason: withheldReason(o).slice(0, 2000),
  }));
  const reviewers = new Map<string, string>();
  for (const o of released)
    for (const d of o.decisions) if (d.reviewer !== AUTO_RELEASE) reviewers.set(d.publicKey, d.reviewer);
  // Only the released outputs' decisions: a decision on a withheld output signs its digest, and the digest of
  // a small output (one count) would let anyone confirm a guess of what was withheld.
  const decisions = released.flatMap((o) =>
    o.decisions.map((d) => new Uint8Array(Buffer.from(d.envelope, "base64"))),
  );
  // The same rule the hub applies to the Release it receives.
  const outcome: ReleaseOutcome = releaseOutcome({ outputs: released, withheld });
  // Released by the TRE's policy alone, no person deciding: said so, not "after review".
  const byPolicy = released.every((o) => o.decisions.every((d) => d.reviewer === AUTO_RELEASE));
  const counts =
    outcome === "withheld"
      ? `${withheld.length} output(s) withheld after review`
      : outcome === "released"
        ? `${released.length} output(s) released ${byPolicy ? "by the TRE's auto-release policy" : "after review"}`
        : `${released.length} output(s) released, ${withheld.length} withheld after review`;
  const reason = statusReason(counts, withheldEntries);
  const { actor, attempt, passed } = ctx.status;
  const body = {
    id: newId(ctx.now),
    iat: ctx.now,
    exp: ctx.now + RELEASE_LIFETIME_MS,
    taskId: task.taskId,
    tre: ctx.tre,
    decisions,
    outputs: releasedOutputs,
    withheld: withheldEntries,
    reviewers: [...reviewers].map(([publicKey, name]) => ({ name, publicKey })),
    status: {
      actor,
      reason,
      // The first attempt's, as a StatusEvent leaves it.
      ...(attempt > 1 ? { attempt } : {}),
      ...(passed.length > 0 ? { passed: passedSteps(passed, actor) } : {}),
    },
  };
  const crate = treCrate(task, outputs, body, ctx);
  const envelope = sealEnvelope("release", crate ? { ...body, crate } : body, ctx.treKey);
  return {
    taskId: task.taskId,
    outcome,
    reason,
    at: ctx.now,
    envelope: Buffer.from(envelope).toString("base64"),
  };
}

/**
 * The reason of the task's final step (the Release's `status`), which the researcher reads in `tremesh status` and
 * on their page: the counts, then each withheld output's name and its reviewer's message to the researcher (the
 * words the Release carries too), within the 2000 characters a status reason may have.
 */
function statusReason(counts: string, withheld: readonly { name: string; reason: string }[]): string {
  const messages = withheld.map((w) => `${w.name} — ${w.reason}`).join("; ");
  const reason = messages ? `${counts}: ${messages}` : counts;
  return reason.length <= 2000 ? reason : `${reason.slice(0, 1999)}…`;
}

/**
 * The media type a released output carries: none for an output description (so Releases read as before),
 * otherwise the held type without parameters. A type the Release could not carry becomes
 * `application/octet-stream` rather than failing to sign: the reviewer approved the bytes, not the label.
 */
function releasedMediaType(held: string): string | undefined {
  if (held === OUTPUT_MEDIA_TYPE) return undefined;
  const bare = (held.split(";")[0] ?? "").trim().toLowerCase();
  // A file held as something else must not turn into a description on the way out: it was never checked as one.
  return MEDIA_TYPE.test(bare) && bare.length <= 128 && bare !== OUTPUT_MEDIA_TYPE
    ? bare
    : "application/octet-stream";
}
