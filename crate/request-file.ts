/**
 * Reads a request crate's metadata from what a researcher has: a BagIt zip (checked against its sha-512
 * manifests first), a plain crate zip, a bag folder, a crate folder or the crate's metadata file itself; with a bag, its `External-Identifier`,
 * which every crate of the task keeps.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { InputFileError, isSystemError, readBoundedFile } from "../common/index.js";
import { EXTERNAL_ID } from "../protocol/index.js";
import { bagProblemText, MAX_BAG_BYTES, openBag } from "./bagit.js";
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
      bytes = await readIfThere(candidate, MAX_METADATA_BYTES);
      if (bytes) break;
    }
    const bagInfoFile = await readIfThere(join(path, "bag-info.txt"), MAX_METADATA_BYTES);
    if (bagInfoFile) tags = new Map([["bag-info.txt", bagInfoFile]]);
  } else {
    const file = await readBoundedFile(path, MAX_BAG_BYTES);
    const bag = openBag(file);
    const plain = bag.files.get(METADATA);
    // A problem with no path is the whole file's: not a zip, or one too large to open.
    const whole = bag.problems.find((p) => p.path === "");
    if (whole?.problem.startsWith("not a zip file")) {
      if (!startsAsJson(file))
        throw new RequestCrateError(
          path,
          undefined,
          `is neither a zip nor a crate's ${METADATA} (JSON): give a crate's zip, folder or ${METADATA}`,
        );
      bytes = file;
    } else if (whole) throw new RequestCrateError(path, undefined, whole.problem);
    else if (plain !== undefined && !bag.files.has("bagit.txt")) bytes = plain;
    else if (!bag.files.has("bagit.txt")) throw notACrate(path, bag.files);
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

/** A file's bytes, or undefined when there is none at `path`; a device or an oversized file is refused, naming it. */
async function readIfThere(path: string, maxBytes: number): Promise<Uint8Array | undefined> {
  try {
    return await readBoundedFile(path, maxBytes);
  } catch (e) {
    if (isSystemError(e) && (e.code === "ENOENT" || e.code === "ENOTDIR")) return undefined;
    if (e instanceof InputFileError) throw new RequestCrateError(path, undefined, e.problem);
    throw e;
  }
}

/** Whether `bytes` begin, after white space, as a JSON object does: a crate's metadata file given as it is. */
function startsAsJson(bytes: Uint8Array): boolean {
  const first = bytes.find(
    (b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0xef && b !== 0xbb && b !== 0xbf,
  );
  return first === 0x7b; // "{"
}

/**
 * A zip with neither a crate's metadata nor a bag declaration at its top: a crate zipped with its folder is named
 * as such (the folder's contents are what is zipped), anything else is not a crate.
 */
function notACrate(path: string, files: ReadonlyMap<string, Uint8Array>): RequestCrateError {
  const nested = [...files.keys()].find((p) => /^[^/]+\/(ro-crate-metadata\.json|bagit\.txt)$/.test(p));
  if (nested !== undefined) {
    const folder = nested.slice(0, nested.indexOf("/"));
    return new RequestCrateError(
      path,
      undefined,
      `holds the crate in the folder ${folder}/, not at the zip's top: zip the folder's contents (cd ${folder} && zip -r ../request.zip .), or give the folder itself`,
    );
  }
  return new RequestCrateError(
    path,
    undefined,
    `is a zip with no ${METADATA} and no BagIt bag (bagit.txt) at its top: not an RO-Crate; give a crate's zip, folder or ${METADATA}`,
  );
}
