/**
 * Tamper evidence beyond BagIt: a crate keeps each approving reviewer's signed Decision beside the output
 * it released (`evidence/…`, `about` the output). Manifests can be rewritten by whoever changes a file;
 * a reviewer's Ed25519 signature over the output's sha256 cannot. Each decision must open as a `decision`
 * signed by a key the crate names (a reviewer Person's or a TRE's `nkey:` identifier), approve, and
 * name exactly the sha256 of the output it is about.
 */
import { createHash } from "node:crypto";
import { openEnvelope, peekEnvelope, TrustStore } from "../protocol/index.js";
import type { BagProblem } from "./bagit.js";
import { ENVELOPE_TYPE } from "./tre-phases.js";

type Entity = Record<string, unknown> & { "@id": string };

const nkeyOf = (e: Entity) =>
  typeof e.identifier === "string" && e.identifier.startsWith("nkey:") ? e.identifier.slice(5) : undefined;

/**
 * Checks every signed decision a crate keeps; returns what does not hold, by file. With `trustedKeys`
 * (keys the reader pinned: a TRE's, its reviewers'), a decision must be signed by one of them, not
 * merely by a key the crate names.
 */
export function checkEvidence(
  metadata: unknown,
  payload: ReadonlyMap<string, Uint8Array>,
  trustedKeys?: readonly string[],
): BagProblem[] {
  const graph = (metadata as { "@graph"?: unknown })?.["@graph"];
  if (!Array.isArray(graph)) return [];
  const entities = graph.filter((e): e is Entity => typeof (e as Entity)?.["@id"] === "string");
  const named = new Set(entities.map(nkeyOf).filter((k): k is string => k !== undefined));
  const tres = entities
    .filter((e) => e["@type"] === "Organization" && e["@id"].startsWith("#tre-"))
    .map((e) => e["@id"].slice(5));
  const problems: BagProblem[] = [];
  for (const e of entities.filter((x) => x.encodingFormat === ENVELOPE_TYPE)) {
    const at = `data/${e["@id"]}`;
    const about = (e.about as { "@id"?: unknown } | undefined)?.["@id"];
    const bytes = payload.get(e["@id"]);
    const output = typeof about === "string" ? payload.get(about) : undefined;
    if (bytes === undefined || output === undefined || typeof about !== "string") {
      problems.push({ path: at, problem: "a signed decision without its file or the output it is about" });
      continue;
    }
    const signer = peekEnvelope(bytes)?.signer;
    if (signer === undefined || !named.has(signer)) {
      problems.push({ path: at, problem: "is not signed by a reviewer or TRE key the crate names" });
      continue;
    }
    if (trustedKeys !== undefined && !trustedKeys.includes(signer)) {
      problems.push({ path: at, problem: `is signed by ${signer}, not a key given to trust` });
      continue;
    }
    // A reviewer signs for one TRE: try the crate's TREs (a crate names one, a combined crate a few).
    const opened = tres
      .map((tre) => {
        try {
          const trust = new TrustStore().add({ publicKey: signer, role: "reviewer", name: "reviewer", tre });
          return openEnvelope(bytes, { trust, expect: "decision", allowExpired: true });
        } catch {
          return undefined;
        }
      })
      .find((o) => o?.ok);
    if (!opened?.ok) {
      problems.push({
        path: at,
        problem: "does not verify as a decision signed for one of the crate's TREs",
      });
      continue;
    }
    const digest = createHash("sha256").update(output).digest("hex");
    if (opened.value.body.verdict !== "approve" || opened.value.body.outputDigest !== digest)
      problems.push({
        path: `data/${about}`,
        problem: `is not what the reviewer approved: ${at} signs sha256 ${opened.value.body.outputDigest.slice(0, 12)}…, the file is ${digest.slice(0, 12)}…`,
      });
  }
  return problems;
}
