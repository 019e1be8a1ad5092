/** `tremesh airlock crate`: writing the TRE's signed crate of a task where its operator or reviewer asks. */
import { join } from "node:path";
import { openBag, withheldOf } from "../crate/index.js";
import { namesZipFile, outputFolder, writeNewFile } from "./output-file.js";

/** Where the crate went, and the outputs it lists as withheld (by name only). */
export interface WrittenTreCrate {
  tre: string;
  path: string;
  bytes: number;
  withheld: string[];
}

/** Writes the crate to `out` (a `.zip` file, or a folder it goes into as `<task>-<tre>.zip`). */
export async function writeTreCrate(
  zip: Uint8Array,
  { taskId, tre, out }: { taskId: string; tre: string; out: string },
): Promise<WrittenTreCrate> {
  const toFile = namesZipFile(out);
  if (!toFile) await outputFolder(out);
  const path = toFile ? out : join(out, `${taskId}-${tre}.zip`);
  await writeNewFile(path, zip);
  return { tre, path, bytes: zip.length, withheld: withheldOf(metadataOf(zip)) };
}

function metadataOf(zip: Uint8Array): unknown {
  const bytes = openBag(zip).payload.get("ro-crate-metadata.json");
  try {
    return bytes ? JSON.parse(new TextDecoder().decode(bytes)) : undefined;
  } catch {
    return undefined;
  }
}
