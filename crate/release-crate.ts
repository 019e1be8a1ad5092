/**
 * A TRE's signed crate as its Release carries it. The Release already carries the released outputs' bytes and
 * the reviewers' signed decisions; the crate holds them again, and both together would not fit the 1 MiB a
 * NATS message may be. So the Release carries the bag without those payload files, and the researcher puts
 * them back, each found by the sha-512 the TRE's manifest gives for it: the bag is then the one the TRE signed.
 */
import { unzipSync } from "fflate";
import { sha512 } from "./bagit.js";
import { zipFiles } from "./zip.js";

/** Largest crate a Release may carry without the files the Release holds itself: metadata and tag files. */
export const MAX_RELEASE_CRATE_BYTES = 256 * 1024;
/** Largest a crate rebuilt from a Release may unpack to: what a Release can hold, and more. */
const MAX_UNPACKED_BYTES = 64 * 1024 * 1024;

/** The sha-512 of each file a Release carries itself: its crate lists them but leaves them out (`zipBag`). */
export function carriedDigests(carried: readonly Uint8Array[]): ReadonlySet<string> {
  return new Set(carried.map(sha512));
}

/**
 * The whole crate again from what a Release carries: every payload file the manifest lists and the bag lacks
 * is the carried file with that sha-512. One that is not carried stays missing, for `checkCrateZip` to name.
 */
export function crateFromRelease(partial: Uint8Array, carried: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  const files: Record<string, Uint8Array> = unzipSync(partial, {
    filter: (f) => {
      total += f.originalSize;
      if (total > MAX_UNPACKED_BYTES)
        throw new Error(`the Release's crate unpacks to over ${MAX_UNPACKED_BYTES} bytes`);
      return true;
    },
  });
  const bySha = new Map<string, Uint8Array>(carried.map((b) => [sha512(b), b]));
  const manifest = new TextDecoder().decode(files["manifest-sha512.txt"] ?? new Uint8Array());
  for (const line of manifest.split("\n")) {
    const m = /^([0-9a-f]{128}) {2}(data\/.+)$/.exec(line);
    if (!m?.[1] || !m[2] || m[2] in files) continue;
    const bytes = bySha.get(m[1]);
    if (bytes) files[m[2]] = bytes;
  }
  return zipFiles(Object.entries(files).map(([p, b]) => [p, b, true]));
}
