/**
 * The TRE's signature over its crate: a BagIt tag file (`tremesh-signature.txt`) holding the sha-512 of every
 * other tag file (`bagit.txt`, `bag-info.txt`, `manifest-sha512.txt`) and the TRE's Ed25519 signature over
 * those lines, by the same nkey that signs its Releases. The payload manifest covers every payload file, so
 * the signature covers the whole bag; unlike the manifests, nobody but the TRE can write it again after a
 * change. The signed bytes start with their own domain tag, so they can never pass for a signed envelope.
 *
 * The file:
 *   Signer: nkey:UAB…
 *   Algorithm: Ed25519
 *   <sha-512>  bagit.txt
 *   <sha-512>  bag-info.txt
 *   <sha-512>  manifest-sha512.txt
 *   Signature: <base64 of the 64-byte signature over the domain tag and every line above>
 */
import { createHash } from "node:crypto";
import { type SigningKey, verifyingKey, verifySignature } from "../protocol/index.js";

export const SIGNATURE_FILE = "tremesh-signature.txt";
/** The tag files the signature lists: every tag file but itself and the tag manifest (which lists it). */
export const SIGNED_TAG_FILES = ["bagit.txt", "bag-info.txt", "manifest-sha512.txt"] as const;

const DOMAIN = "tremesh-crate-signature\0";
const utf8 = (text: string) => new TextEncoder().encode(text);
const sha512 = (bytes: Uint8Array) => createHash("sha512").update(bytes).digest("hex");

/** The signature tag file over `tags` (the signed tag files by name), signed by `key`. */
export function signTags(tags: ReadonlyMap<string, Uint8Array>, key: SigningKey): Uint8Array {
  const head = `Signer: nkey:${key.publicKey}\nAlgorithm: Ed25519\n${SIGNED_TAG_FILES.map(
    (name) => `${sha512(tags.get(name) ?? new Uint8Array())}  ${name}\n`,
  ).join("")}`;
  const signature = Buffer.from(key.sign(utf8(DOMAIN + head))).toString("base64");
  return utf8(`${head}Signature: ${signature}\n`);
}

/** A file of a bag, and what is wrong with it (bagit.ts's BagProblem). */
interface BagProblem {
  path: string;
  problem: string;
}

/** Who signed a bag, and every way its signature does not hold. */
export interface SignatureCheck {
  /** The signer's public key, when the file names one. */
  signer?: string;
  problems: BagProblem[];
}

/**
 * Checks a bag's signature file against its tag files, and its signer against `keys` (the keys allowed to
 * sign it: the TRE's the crate names, or those the reader pinned).
 */
export function checkTagSignature(
  files: ReadonlyMap<string, Uint8Array>,
  keys: readonly string[],
  keysAre: string,
): SignatureCheck {
  const bytes = files.get(SIGNATURE_FILE);
  const problem = (p: string, path: string = SIGNATURE_FILE) => ({ path, problem: p });
  if (bytes === undefined) return { problems: [problem("is missing: the crate is not signed by its TRE")] };
  const text = new TextDecoder().decode(bytes);
  const m =
    /^(Signer: nkey:([A-Z0-9]{56})\nAlgorithm: Ed25519\n((?:[0-9a-f]{128} {2}\S+\n){3}))Signature: ([A-Za-z0-9+/=]{86,88})\n$/.exec(
      text,
    );
  if (!m?.[1] || !m[2] || !m[3] || !m[4])
    return {
      problems: [problem("is not a tremesh signature file (Signer, Algorithm, three tag lines, Signature)")],
    };
  const [, head, signer, lines, signature] = m;
  const problems: BagProblem[] = [];
  const listed = lines.trimEnd().split("\n");
  SIGNED_TAG_FILES.forEach((name, i) => {
    const [digest, path] = (listed[i] ?? "").split("  ");
    const tag = files.get(name);
    if (path !== name) problems.push(problem(`does not list ${name} where it should`));
    else if (tag === undefined || sha512(tag) !== digest)
      problems.push(problem(`is not what the TRE signed: ${SIGNATURE_FILE} signs another sha-512`, name));
  });
  let verified = false;
  try {
    verified = verifySignature(verifyingKey(signer), utf8(DOMAIN + head), Buffer.from(signature, "base64"));
  } catch {
    // a malformed key is a signature that does not verify
  }
  if (!verified) problems.push(problem(`its Ed25519 signature does not verify for ${signer}`));
  else if (!keys.includes(signer)) problems.push(problem(`is signed by ${signer}, not ${keysAre}`));
  return { signer, problems };
}
