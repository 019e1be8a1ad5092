/**
 * A results crate as the file a researcher keeps: the crate in a BagIt zip (sha-512 payload and tag
 * manifests), and the check that reads one back — manifests first, then the profile.
 */
import { type BagProblem, openBag, zipBag } from "./bagit.js";
import type { ResultsCrateInput } from "./crate-input.js";
import { checkEvidence } from "./evidence-check.js";
import { type ValidationReport, validateCrateMetadata } from "./profile-validator.js";
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

/** Builds a TRE's results crate for a task and zips it as a bag. */
export function zipResultsCrate(input: ResultsCrateInput): Uint8Array {
  return zipCrate(buildResultsCrate(input), input.task.taskId, `TRE ${input.release.tre}`, input.now);
}

/** Builds the researcher's combined crate of a task and zips it as a bag. */
export function zipCombinedCrate(input: CombinedCrateInput): Uint8Array {
  const tres = input.releases.map((r) => r.tre).join(", ");
  return zipCrate(buildCombinedCrate(input), input.task.taskId, `TREs ${tres}`, input.now);
}

function zipCrate({ metadata, files }: BuiltCrate, taskId: string, source: string, now: number): Uint8Array {
  const payload = new Map(files);
  payload.set(METADATA, new TextEncoder().encode(`${JSON.stringify(metadata, null, 2)}\n`));
  return zipBag(payload, {
    "Source-Organization": source,
    "External-Identifier": externalIdentifier(taskId),
    "External-Description": `Five Safes RO-Crate 0.4 of tremesh task ${taskId} from ${source}`,
    "Bagging-Date": new Date(now).toISOString().slice(0, 10),
  });
}

export interface CrateCheck {
  /**
   * Where the bag does not verify (a changed, missing or unlisted file), or a released output is not what
   * its reviewer's signed decision approved; empty when all holds.
   */
  bagProblems: BagProblem[];
  /** The profile's findings on `data/ro-crate-metadata.json`; absent when it is missing or not JSON. */
  profile?: ValidationReport;
}

/**
 * Checks a crate zip: its BagIt manifests, the reviewers' signed decisions on its outputs (signed by
 * one of `trustedKeys` when given), and its metadata against the Five Safes profile.
 */
export async function checkCrateZip(
  zip: Uint8Array,
  { trustedKeys }: { trustedKeys?: readonly string[] } = {},
): Promise<CrateCheck> {
  const bag = openBag(zip);
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
  return {
    bagProblems: [...bag.problems, ...checkEvidence(metadata, bag.payload, trustedKeys)],
    profile: await validateCrateMetadata(metadata),
  };
}
