/**
 * A results crate as the file a researcher keeps: the crate in a BagIt zip (sha-512 payload and tag
 * manifests), and the check that reads one back — manifests first, then the profile.
 */
import type { SigningKey } from "../protocol/index.js";
import { checkTagSignature, SIGNATURE_FILE } from "./bag-signature.js";
import { type BagProblem, openBag, zipBag } from "./bagit.js";
import type { ResultsCrateInput } from "./crate-input.js";
import { checkEvidence } from "./evidence-check.js";
import type { ValidationReport } from "./profile-iri.js";
import {
  type BuiltCrate,
  buildCombinedCrate,
  buildResultsCrate,
  type CombinedCrateInput,
} from "./results-crate.js";

const METADATA = "ro-crate-metadata.json";
/** Largest `ro-crate-metadata.json` validated: tremesh's own are a few kB; JSON-LD expansion is costly. */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/** The BagIt `External-Identifier` of a task's crates: one per task, the same at every TRE. */
export const externalIdentifier = (taskId: string) => `urn:tremesh:task:${taskId}`;

/**
 * Builds a TRE's results crate for a task and zips it as a bag; with `signer` (the TRE's key, at the TRE), the
 * bag carries the TRE's signature over its tag files (bag-signature.ts).
 */
export function zipResultsCrate(
  input: ResultsCrateInput,
  signer?: SigningKey,
  leaveOut?: ReadonlySet<string>,
): Uint8Array {
  return zipCrate(buildResultsCrate(input), input, `TRE ${input.release.tre}`, { signer, leaveOut });
}

/** Builds the researcher's combined crate of a task and zips it as a bag. */
export function zipCombinedCrate(input: CombinedCrateInput): Uint8Array {
  const tres = input.releases.map((r) => r.tre).join(", ");
  return zipCrate(buildCombinedCrate(input), input, `TREs ${tres}`, {});
}

function zipCrate(
  { metadata, files }: BuiltCrate,
  input: Pick<ResultsCrateInput, "task" | "now" | "externalId">,
  source: string,
  bag: { signer?: SigningKey | undefined; leaveOut?: ReadonlySet<string> | undefined },
): Uint8Array {
  const payload = new Map(files);
  payload.set(METADATA, new TextEncoder().encode(`${JSON.stringify(metadata, null, 2)}\n`));
  const taskId = input.task.taskId;
  return zipBag(
    payload,
    {
      "Source-Organization": source,
      "External-Identifier": input.externalId ?? externalIdentifier(taskId),
      "External-Description": `Five Safes RO-Crate 0.4 of tremesh task ${taskId} from ${source}`,
      "Bagging-Date": new Date(input.now).toISOString().slice(0, 10),
    },
    {
      ...(bag.signer ? { signer: bag.signer } : {}),
      ...(bag.leaveOut ? { leaveOut: bag.leaveOut } : {}),
    },
  );
}

/** The bag-info fields of a bag's `bag-info.txt`, by label (the first of a repeated label). */
export function bagInfo(files: ReadonlyMap<string, Uint8Array>): Record<string, string> {
  const info: Record<string, string> = {};
  for (const line of new TextDecoder().decode(files.get("bag-info.txt") ?? new Uint8Array()).split("\n")) {
    const m = /^([^:\s][^:]*):\s*(.*)$/.exec(line);
    if (m?.[1] && m[2] !== undefined && !(m[1] in info)) info[m[1]] = m[2].trim();
  }
  return info;
}

/**
 * Checks a crate's metadata against the Five Safes profile. The validator (JSON-LD and SHACL engines) is
 * loaded on first use, so that whoever only builds crates (a TRE's agent) never loads it.
 */
export async function validateCrateMetadata(metadata: unknown): Promise<ValidationReport> {
  return (await import("./profile-validator.js")).validateCrateMetadata(metadata);
}

export interface CrateCheck {
  /**
   * Where the bag does not verify (a changed, missing or unlisted file), or a released output is not what
   * its reviewer's signed decision approved; empty when all holds.
   */
  bagProblems: BagProblem[];
  /** The profile's findings on `data/ro-crate-metadata.json`; absent when it is missing or not JSON. */
  profile?: ValidationReport;
  /** The key whose signature over the bag verified (a TRE's), when the crate carries one that does. */
  signedBy?: string;
}

/**
 * Checks a crate zip: its BagIt manifests, its TRE's signature over them, the reviewers' signed decisions on
 * its outputs (signed by one of `trustedKeys` when given), and its metadata against the Five Safes profile.
 * A crate its TRE published (root `publisher` a TRE) must carry that TRE's signature, by the key the crate
 * names or, with `trustedKeys`, by one of them; a combined crate (the researcher's) carries none.
 */
export async function checkCrateZip(
  zip: Uint8Array,
  { trustedKeys }: { trustedKeys?: readonly string[] } = {},
): Promise<CrateCheck> {
  const bag = openBag(zip);
  // Not a zip at all: that is the one problem, not also every file it lacks.
  if (bag.files.size === 0 && bag.problems.length > 0) return { bagProblems: bag.problems };
  const bytes = bag.payload.get(METADATA);
  if (bytes === undefined)
    return { bagProblems: [...bag.problems, { path: `data/${METADATA}`, problem: "is missing" }] };
  if (bytes.length > MAX_METADATA_BYTES)
    return {
      bagProblems: [
        ...bag.problems,
        { path: `data/${METADATA}`, problem: `is over ${MAX_METADATA_BYTES} bytes; not validated` },
      ],
    };
  let metadata: unknown;
  try {
    metadata = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return { bagProblems: [...bag.problems, { path: `data/${METADATA}`, problem: "is not UTF-8 JSON" }] };
  }
  const publisherKey = treKeyOfPublisher(metadata);
  let signature: ReturnType<typeof checkTagSignature> | undefined;
  if (publisherKey !== undefined || bag.files.has(SIGNATURE_FILE))
    signature = trustedKeys
      ? checkTagSignature(bag.files, trustedKeys, "a key given to trust")
      : checkTagSignature(
          bag.files,
          publisherKey === undefined ? [] : [publisherKey],
          "the key of the TRE that published the crate",
        );
  return {
    bagProblems: [
      ...bag.problems,
      ...(signature?.problems ?? []),
      ...checkEvidence(metadata, bag.payload, trustedKeys),
    ],
    profile: await validateCrateMetadata(metadata),
    ...(signature?.signer !== undefined && signature.problems.length === 0
      ? { signedBy: signature.signer }
      : {}),
  };
}

/** The `nkey:` key of the root's `publisher` when it is a TRE (`#tre-…`) the crate describes. */
function treKeyOfPublisher(metadata: unknown): string | undefined {
  const graph = (metadata as { "@graph"?: unknown })?.["@graph"];
  if (!Array.isArray(graph)) return undefined;
  const byId = (id: unknown) =>
    graph.find((e) => typeof e === "object" && e !== null && (e as { "@id"?: unknown })["@id"] === id) as
      | Record<string, unknown>
      | undefined;
  const publisher = (byId("./")?.publisher as { "@id"?: unknown } | undefined)?.["@id"];
  if (typeof publisher !== "string" || !publisher.startsWith("#tre-")) return undefined;
  const identifier = byId(publisher)?.identifier;
  return typeof identifier === "string" && identifier.startsWith("nkey:") ? identifier.slice(5) : "";
}
