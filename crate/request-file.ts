/**
 * Reads a request crate's metadata from what a researcher has: a BagIt zip (checked against its sha-512
 * manifests first), a plain crate zip, a bag folder or a crate folder; with a bag, its `External-Identifier`,
 * which every crate of the task keeps.
 */
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { EXTERNAL_ID } from "../protocol/index.js";
import { bagProblemText, openBag } from "./bagit.js";
import { bagInfo, MAX_METADATA_BYTES } from "./crate-zip.js";
import { RequestCrateError } from "./request-crate.js";

const METADATA = "ro-crate-metadata.json";

/** A request crate as read: its metadata (JSON, unchecked) and its bag's `External-Identifier`, if any. */
export interface RequestCrateFile {
  metadata: unknown;
  externalId?: string;
}

export async function readRequestCrate(path: string): Promise<RequestCrateFile> {
  // A path that cannot be read throws its system error as it is: the caller names the file it was given.
  const info = await stat(path);
  let bytes: Uint8Array | undefined;
  let tags: Map<string, Uint8Array> | undefined;
  if (info.isDirectory()) {
    for (const candidate of [join(path, METADATA), join(path, "data", METADATA)]) {
      bytes = await readFile(candidate).catch(() => undefined);
      if (bytes) break;
    }
    const bagInfoFile = await readFile(join(path, "bag-info.txt")).catch(() => undefined);
    if (bagInfoFile) tags = new Map([["bag-info.txt", bagInfoFile]]);
  } else {
    const bag = openBag(await readFile(path));
    const plain = bag.files.get(METADATA);
    if (plain !== undefined && !bag.files.has("bagit.txt")) bytes = plain;
    else if (bag.problems.length > 0)
      throw new RequestCrateError(
        path,
        undefined,
        `the bag does not verify: ${bag.problems.map(bagProblemText).join("; ")}`,
      );
    else {
      bytes = bag.payload.get(METADATA);
      tags = bag.files;
    }
  }
  if (bytes === undefined) throw new RequestCrateError(path, undefined, `has no ${METADATA}`);
  if (bytes.length > MAX_METADATA_BYTES)
    throw new RequestCrateError(METADATA, undefined, `is over ${MAX_METADATA_BYTES} bytes`);
  let metadata: unknown;
  try {
    metadata = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new RequestCrateError(METADATA, undefined, "is not UTF-8 JSON");
  }
  const externalId = tags ? bagInfo(tags)["External-Identifier"] : undefined;
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId))
    throw new RequestCrateError(
      "bag-info.txt",
      "External-Identifier",
      "must be one line of printable text, at most 500 characters",
    );
  return { metadata, ...(externalId ? { externalId } : {}) };
}
