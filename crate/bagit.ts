/**
 * BagIt 1.0 (RFC 8493) bags as zip files, with sha-512 payload and tag manifests: how a Five Safes
 * RO-Crate travels. The payload is under `data/`; the bag's files are at the zip's root, or (as RFC 8493 §4
 * serializes a bag, and `zip -r bag.zip bag/` makes one) in the one folder that holds everything in the zip.
 */
import { createHash } from "node:crypto";
import { unzipSync } from "fflate";
import type { SigningKey } from "../protocol/index.js";
import { SIGNATURE_FILE, signTags } from "./bag-signature.js";
import { type ZipEntry, zipFiles } from "./zip.js";

const BAGIT_TXT = "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n";

export const sha512 = (bytes: Uint8Array) => createHash("sha512").update(bytes).digest("hex");
const utf8 = (text: string) => new TextEncoder().encode(text);

/** Largest total of a bag's unpacked files `openBag` reads by default: 1 GiB. */
export const MAX_BAG_BYTES = 1024 * 1024 * 1024;

class TooLarge extends Error {
  constructor(file: string, maxBytes: number) {
    super(`unpacks to more than ${maxBytes} bytes (at ${file}); refused unread`);
  }
}

/** Why a bag does not verify: which file, and what is wrong with it. */
export interface BagProblem {
  path: string;
  problem: string;
}

/** A problem as one phrase: "data/x.csv: does not match the manifest", or the problem alone for the whole bag. */
export const bagProblemText = (p: BagProblem) => (p.path ? `${p.path}: ${p.problem}` : p.problem);

/**
 * Zips a bag: `payload` (paths relative to `data/`, `/`-separated, already safe) with its sha-512
 * manifest, `bag-info.txt` from `info` (plus `Payload-Oxum`), the tag manifest and, given a `signer`,
 * its signature over the other tag files (bag-signature.ts), listed in the tag manifest too. A payload file
 * whose sha-512 is in `leaveOut` is in the manifests but not in the zip (a Release carries it already).
 */
export function zipBag(
  payload: ReadonlyMap<string, Uint8Array>,
  info: Readonly<Record<string, string>>,
  { signer, leaveOut }: { signer?: SigningKey; leaveOut?: ReadonlySet<string> } = {},
): Uint8Array {
  const paths = [...payload.keys()].sort();
  let octets = 0;
  const zipped: string[] = [];
  const manifest = paths
    .map((p) => {
      const bytes = payload.get(p) as Uint8Array;
      octets += bytes.length;
      const digest = sha512(bytes);
      if (!leaveOut?.has(digest)) zipped.push(p);
      return `${digest}  data/${p}\n`;
    })
    .join("");
  const bagInfo = Object.entries({ ...info, "Payload-Oxum": `${octets}.${paths.length}` })
    .map(([k, v]) => `${k}: ${v.replace(/[\r\n]+/g, " ")}\n`)
    .join("");
  const tags = new Map<string, Uint8Array>([
    ["bagit.txt", utf8(BAGIT_TXT)],
    ["bag-info.txt", utf8(bagInfo)],
    ["manifest-sha512.txt", utf8(manifest)],
  ]);
  if (signer) tags.set(SIGNATURE_FILE, signTags(tags, signer));
  const tagManifest = [...tags].map(([p, bytes]) => `${sha512(bytes)}  ${p}\n`).join("");
  // The tag files are a few hundred bytes each: stored as they are, since deflating each costs more time than their
  // bytes are worth. The payload is deflated.
  const entries: ZipEntry[] = [...tags].map(([p, bytes]) => [p, bytes, false]);
  entries.push(["tagmanifest-sha512.txt", utf8(tagManifest), false]);
  for (const p of zipped) entries.push([`data/${p}`, payload.get(p) as Uint8Array, true]);
  return zipFiles(entries);
}

/** The zip's files with the bag's folder taken off their paths, when the zip holds one folder and its bagit.txt. */
function bagAtTop(files: Map<string, Uint8Array>): Map<string, Uint8Array> {
  if (files.has("bagit.txt")) return files;
  const first = files.keys().next().value;
  const folder = first?.slice(0, first.indexOf("/") + 1);
  if (!folder || !files.has(`${folder}bagit.txt`)) return files;
  if (![...files.keys()].every((p) => p.startsWith(folder))) return files;
  return new Map([...files].map(([p, b]) => [p.slice(folder.length), b]));
}

/** A bag read back: its files by path in the zip, and every way it fails to verify. */
export interface OpenedBag {
  files: Map<string, Uint8Array>;
  /** Payload files by their path under `data/`. */
  payload: Map<string, Uint8Array>;
  problems: BagProblem[];
}

/**
 * Unzips a bag and checks it: `bagit.txt`, both sha-512 manifests, every payload file listed and
 * matching, no payload file unlisted, and `Payload-Oxum`. Never throws for a bad bag: the problems say
 * what changed.
 */
export function openBag(
  zip: Uint8Array,
  { maxBytes = MAX_BAG_BYTES }: { maxBytes?: number } = {},
): OpenedBag {
  const problems: BagProblem[] = [];
  let files: Map<string, Uint8Array>;
  let total = 0;
  // Sizes are checked before anything is inflated, so a zip bomb is refused without being unpacked.
  const filter = (f: { name: string; originalSize: number }) => {
    total += f.originalSize;
    if (total > maxBytes) throw new TooLarge(f.name, maxBytes);
    return true;
  };
  try {
    files = bagAtTop(new Map(Object.entries(unzipSync(zip, { filter })).filter(([p]) => !p.endsWith("/"))));
  } catch (e) {
    const problem =
      e instanceof TooLarge ? e.message : `not a zip file (${e instanceof Error ? e.message : String(e)})`;
    return { files: new Map(), payload: new Map(), problems: [{ path: "", problem }] };
  }
  // The checks below never unpack a file, but whoever unzips a bag this called whole would: a name that climbs out
  // of the folder it is unzipped into, or starts at the root, is refused (and left out of payload and tags).
  for (const p of [...files.keys()]) {
    if (isSafeZipPath(p)) continue;
    files.delete(p);
    problems.push({
      path: p,
      problem: "is not a path inside the bag (absolute, or with an empty, . or .. part)",
    });
  }
  const payload = new Map(
    [...files].filter(([p]) => p.startsWith("data/")).map(([p, b]) => [p.slice(5), b] as const),
  );
  const text = (p: string) => {
    const bytes = files.get(p);
    return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
  };
  if (!text("bagit.txt")?.startsWith("BagIt-Version: 1."))
    problems.push({ path: "bagit.txt", problem: "missing, or not a BagIt 1.x declaration" });
  const tagsListed = checkManifest("tagmanifest-sha512.txt", text, files, problems);
  // A TRE signs its bag whole, every tag file in the tag manifest: one added beside them is nobody's word.
  if (files.has(SIGNATURE_FILE))
    for (const p of files.keys())
      if (!p.startsWith("data/") && p !== "tagmanifest-sha512.txt" && !tagsListed.has(p))
        problems.push({
          path: p,
          problem: "is in the bag but not in tagmanifest-sha512.txt, which the TRE signed",
        });
  const listed = checkManifest("manifest-sha512.txt", text, files, problems);
  for (const p of payload.keys()) {
    if (!listed.has(`data/${p}`))
      problems.push({ path: `data/${p}`, problem: "is in the payload but not in manifest-sha512.txt" });
  }
  const oxum = /^Payload-Oxum:\s*(\d+)\.(\d+)\s*$/m.exec(text("bag-info.txt") ?? "");
  const octets = [...payload.values()].reduce((n, b) => n + b.length, 0);
  if (oxum && (Number(oxum[1]) !== octets || Number(oxum[2]) !== payload.size))
    problems.push({
      path: "bag-info.txt",
      problem: `Payload-Oxum says ${oxum[1]}.${oxum[2]}, the payload is ${octets}.${payload.size}`,
    });
  return { files, payload, problems };
}

/** Whether a zip entry's name stays inside the folder it is unzipped into: relative, `/`-separated, no `.` or `..`. */
function isSafeZipPath(p: string): boolean {
  if (p.includes("\\") || /^[A-Za-z]:/.test(p)) return false;
  return p.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** Checks one manifest's lines against the files; returns the paths it lists. */
function checkManifest(
  name: string,
  text: (p: string) => string | undefined,
  files: ReadonlyMap<string, Uint8Array>,
  problems: BagProblem[],
): Set<string> {
  const listed = new Set<string>();
  const body = text(name);
  if (body === undefined) {
    problems.push({ path: name, problem: "is missing" });
    return listed;
  }
  for (const line of body.split("\n")) {
    if (line.trim() === "") continue;
    const m = /^([0-9a-f]{128})\s+(.+)$/.exec(line);
    if (!m?.[1] || !m[2]) {
      problems.push({
        path: name,
        problem: `has a line that is not "<sha-512> <path>": ${line.slice(0, 80)}`,
      });
      continue;
    }
    const path = m[2];
    listed.add(path);
    const bytes = files.get(path);
    if (bytes === undefined) problems.push({ path, problem: `is listed in ${name} but missing` });
    else if (sha512(bytes) !== m[1])
      problems.push({ path, problem: `does not match its sha-512 in ${name}: it was changed` });
  }
  return listed;
}
