/**
 * Ed25519 keys in nkey form. nkeys gives the formats (seed and public-key strings with
 * checksums); node:crypto does the signing and verifying, about 100× faster than the nkeys
 * library's pure-JS Ed25519.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { createAccount, createOperator, createUser, fromPublic, Prefix } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";

// DER headers that wrap a raw 32-byte Ed25519 seed (PKCS#8) or public key (SPKI).
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519 = Buffer.from("302a300506032b6570032100", "hex");

const encoder = new TextEncoder();

/** Public-key prefixes tremesh accepts as signers: user, account, operator, server. */
const SIGNER_PREFIXES: Record<string, Prefix> = {
  U: Prefix.User,
  A: Prefix.Account,
  O: Prefix.Operator,
  N: Prefix.Server,
};

export class KeyFormatError extends Error {
  override readonly name = "KeyFormatError";
}

/** A private signing key, held only by the process that signs. */
export interface SigningKey {
  /** The nkey public key string (`U…`, `A…`, `O…`). */
  readonly publicKey: string;
  sign(data: Uint8Array): Uint8Array;
}

/** Builds a signing key from an nkey seed string (`SU…`, `SA…`, `SO…`). */
export function signingKeyFromSeed(seed: string): SigningKey {
  let raw: Uint8Array;
  let prefix: Prefix;
  try {
    const decoded = Codec.decodeSeed(encoder.encode(seed.trim()));
    raw = decoded.buf;
    prefix = decoded.prefix;
  } catch (cause) {
    // Never echo the seed: it is a secret.
    throw new KeyFormatError("not a valid nkey seed", { cause });
  }
  if (!Object.values(SIGNER_PREFIXES).includes(prefix)) {
    throw new KeyFormatError("nkey seed is not of a signing kind (user, account, operator, server)");
  }
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_ED25519, raw]),
    format: "der",
    type: "pkcs8",
  });
  const rawPublic = createPublicKey(privateKey)
    .export({ format: "der", type: "spki" })
    .subarray(SPKI_ED25519.length);
  const publicKey = new TextDecoder().decode(Codec.encode(prefix, rawPublic));
  return {
    publicKey,
    sign: (data) => sign(null, data, privateKey),
  };
}

/**
 * Keys parsed lately, by their nkey string: a receiver meets the same few keys again and again (a researcher's
 * results trust each TRE's key for its Release and again for each of its decisions), and parsing one costs about
 * what checking a signature does (92 against 105 µs here). Public keys only; the oldest goes past `KEYS_KEPT`.
 */
const parsedKeys = new Map<string, KeyObject>();
export const KEYS_KEPT = 1024;

/** Parses and checks an nkey public key string, returning a node:crypto key for verifying. */
export function verifyingKey(publicKey: string): KeyObject {
  const known = parsedKeys.get(publicKey);
  if (known !== undefined) return known;
  const key = parseVerifyingKey(publicKey);
  if (parsedKeys.size >= KEYS_KEPT) parsedKeys.delete(parsedKeys.keys().next().value as string);
  parsedKeys.set(publicKey, key);
  return key;
}

function parseVerifyingKey(publicKey: string): KeyObject {
  const prefix = SIGNER_PREFIXES[publicKey[0] ?? ""];
  if (prefix === undefined) throw new KeyFormatError(`public key must start with U, A, O or N`);
  let raw: Uint8Array;
  try {
    fromPublic(publicKey);
    raw = Codec.decode(prefix, encoder.encode(publicKey));
  } catch (cause) {
    throw new KeyFormatError(`not a valid nkey public key: ${publicKey.slice(0, 12)}…`, { cause });
  }
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw]), format: "der", type: "spki" });
}

export function verifySignature(key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  return verify(null, data, key, signature);
}

/** `verifySignature` on Node's thread pool: the calling thread spends a fifth of the time on it. */
export function verifySignatureAsync(
  key: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== 64) return Promise.resolve(false);
  return new Promise((resolve, reject) =>
    verify(null, data, key, signature, (error, valid) => (error ? reject(error) : resolve(valid))),
  );
}

export function isPublicKey(s: string): boolean {
  try {
    verifyingKey(s);
    return true;
  } catch {
    return false;
  }
}

/** A fresh key pair as nkey strings. The seed is a secret: store it 0600, never log it. */
export function generateKeyPair(kind: "user" | "account" | "operator" = "user"): {
  seed: string;
  publicKey: string;
} {
  const kp = kind === "operator" ? createOperator() : kind === "account" ? createAccount() : createUser();
  return { seed: new TextDecoder().decode(kp.getSeed()), publicKey: kp.getPublicKey() };
}
