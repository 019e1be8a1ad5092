/**
 * The signed envelope every tremesh message travels in:
 *
 *   msgpack [ version, type, signerPublicKey, bodyBytes, signature ]
 *
 * The signature is Ed25519 over `signingInput(version, type, bodyBytes)`, a domain-separated
 * byte string, so a signature made for one type can never be replayed as another and no other
 * system's signature over the same body bytes is valid here.
 *
 * `openEnvelope` never throws on hostile bytes: it returns a typed `ProtocolError` instead.
 */

import type { KeyObject } from "node:crypto";
import { pack, unpack } from "./codec.js";
import { fail, ok, ProtocolError, RejectCode, type Result } from "./errors.js";
import { newId } from "./ids.js";
import { type SigningKey, verifySignature, verifySignatureAsync } from "./keys.js";
import { type BodyByType, bodies, isMessageType, type MessageType } from "./messages.js";
import type { ReplayGuard } from "./replay-guard.js";
import { maySign, type Principal, type TrustStore } from "./trust.js";
import { FieldError } from "./validate.js";

export const PROTOCOL_VERSION = 1;

/** Default size limit: NATS's default max_payload. */
export const DEFAULT_MAX_ENVELOPE_BYTES = 1024 * 1024;
/** Issued-at may be this far in the receiver's future (clocks differ). */
export const DEFAULT_CLOCK_SKEW_MS = 60_000;
/** No message may be valid for longer than this, which also bounds replay-guard memory. */
export const DEFAULT_MAX_LIFETIME_MS = 30 * 24 * 3600_000;

const DOMAIN = new TextEncoder().encode("tremesh-envelope\0");
const encoder = new TextEncoder();

/** The exact bytes that are signed: domain tag, version, type length, type, body. */
export function signingInput(version: number, type: string, body: Uint8Array): Uint8Array {
  const t = encoder.encode(type);
  const out = new Uint8Array(DOMAIN.length + 2 + t.length + body.length);
  out.set(DOMAIN, 0);
  out[DOMAIN.length] = version;
  out[DOMAIN.length + 1] = t.length;
  out.set(t, DOMAIN.length + 2);
  out.set(body, DOMAIN.length + 2 + t.length);
  return out;
}

/**
 * Validates `body` against its type's schema, then signs and encodes it.
 *
 * @example
 * const bytes = sealEnvelope("heartbeat", { id: newId(), iat, exp, tre: "a", seq: 1, agentVersion: "0.1.0", running: 0 }, treKey);
 */
export function sealEnvelope<T extends MessageType>(
  type: T,
  body: BodyByType[T],
  key: SigningKey,
): Uint8Array {
  bodies[type](body, ""); // a bug in the sender must not reach the wire
  const bodyBytes = pack(body);
  const signature = key.sign(signingInput(PROTOCOL_VERSION, type, bodyBytes));
  return pack([PROTOCOL_VERSION, type, key.publicKey, bodyBytes, signature]);
}

/** A body's own fields, without the `id`, `iat` and `exp` that `sealFresh` stamps. */
export type FreshFields<T extends MessageType> = Omit<BodyByType[T], "id" | "iat" | "exp">;

/**
 * Seals a new message issued `now` and valid for `lifetimeMs`, with a fresh id.
 *
 * @example
 * const bytes = sealFresh("query", { what: "tres" }, researcherKey, 60_000);
 */
export function sealFresh<T extends MessageType>(
  type: T,
  fields: FreshFields<T>,
  key: SigningKey,
  lifetimeMs: number,
  now: number = Date.now(),
): Uint8Array {
  const body = { id: newId(now), iat: now, exp: now + lifetimeMs, ...fields } as unknown as BodyByType[T];
  return sealEnvelope(type, body, key);
}

export interface OpenOptions<T extends MessageType = MessageType> {
  trust: TrustStore;
  /** The type(s) this subject carries; any other type is refused as `wrong_type`, and the result is narrowed to them. */
  expect: T | readonly T[];
  /** Receivers inside a TRE set their TRE name: a message naming another TRE is refused. */
  tre?: string;
  replay?: ReplayGuard;
  /** Current time in ms (tests and offline verification set it). */
  now?: number;
  /** Verify a stored message after its expiry (the aggregator reading old Releases). */
  allowExpired?: boolean;
  maxBytes?: number;
  clockSkewMs?: number;
  maxLifetimeMs?: number;
}

/** A message of one of the types `T` whose signature, signer, schema, timing and freshness all checked out. */
export type VerifiedOf<T extends MessageType> = {
  [K in T]: { type: K; body: BodyByType[K]; signer: Principal };
}[T];

/** A verified message of any type. */
export type Verified = VerifiedOf<MessageType>;

type Raw = [number, string, string, Uint8Array, Uint8Array];

function decodeEnvelope(bytes: Uint8Array): Raw | ProtocolError {
  let v: unknown;
  try {
    v = unpack(bytes);
  } catch (cause) {
    return new ProtocolError(RejectCode.malformed, "envelope is not valid msgpack", { cause });
  }
  if (!Array.isArray(v) || v.length !== 5) {
    return new ProtocolError(RejectCode.malformed, "envelope must be a 5-element array");
  }
  const [version, type, signer, body, signature] = v as unknown[];
  if (typeof version !== "number")
    return new ProtocolError(RejectCode.malformed, "envelope version is not a number");
  if (typeof type !== "string" || type.length > 32) {
    return new ProtocolError(RejectCode.malformed, "envelope type is not a short string");
  }
  if (typeof signer !== "string" || signer.length !== 56) {
    return new ProtocolError(RejectCode.malformed, "envelope signer is not an nkey public key");
  }
  if (!(body instanceof Uint8Array))
    return new ProtocolError(RejectCode.malformed, "envelope body is not bytes");
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    return new ProtocolError(RejectCode.malformed, "envelope signature is not 64 bytes");
  }
  return [version, type, signer, body, signature];
}

/**
 * Decodes, authenticates and validates an envelope. Never throws. The result's type is one of `expect`, so no
 * caller narrows it again.
 *
 * @example
 * const opened = openEnvelope(bytes, { trust, expect: "dispatch", tre: "a" });
 * if (opened.ok) opened.value.body.taskId; // a Dispatch
 */
export function openEnvelope<T extends MessageType>(
  bytes: Uint8Array,
  opts: OpenOptions<T>,
): Result<VerifiedOf<T>> {
  try {
    const signed = readSigned(bytes, opts);
    if (!signed.ok) return signed;
    const { key, input, signature } = signed.value;
    return checkSigned(signed.value, verifySignature(key, input, signature), opts);
  } catch (cause) {
    return unreadable(cause);
  }
}

/**
 * As `openEnvelope`, with the signature checked on Node's thread pool rather than the caller's thread: for the hub's
 * and the agent's busiest intakes, where Ed25519 was a tenth of the main thread. Never rejects.
 */
export async function openEnvelopeAsync<T extends MessageType>(
  bytes: Uint8Array,
  opts: OpenOptions<T>,
): Promise<Result<VerifiedOf<T>>> {
  try {
    const signed = readSigned(bytes, opts);
    if (!signed.ok) return signed;
    const { key, input, signature } = signed.value;
    return checkSigned(signed.value, await verifySignatureAsync(key, input, signature), opts);
  } catch (cause) {
    return unreadable(cause);
  }
}

/** Every known failure is returned by the steps; this is for what the fuzz tests have not found. */
const unreadable = (cause: unknown) =>
  fail(new ProtocolError(RejectCode.malformed, "envelope could not be read", { cause }));

function isOneOf<T extends MessageType>(type: MessageType, expected: readonly T[]): type is T {
  return (expected as readonly MessageType[]).includes(type);
}

/** An envelope read as far as its signature: of a type expected here, by a signer trusted to sign it. */
interface Signed<T extends MessageType> {
  version: number;
  type: T;
  signer: Principal;
  bodyBytes: Uint8Array;
  /** What the signature must verify: the signer's key, the signed bytes and the signature. */
  key: KeyObject;
  input: Uint8Array;
  signature: Uint8Array;
}

/** The steps before the signature: size, framing, version, type, signer. */
function readSigned<T extends MessageType>(bytes: Uint8Array, opts: OpenOptions<T>): Result<Signed<T>> {
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ENVELOPE_BYTES;
  if (bytes.length > maxBytes) {
    return fail(
      new ProtocolError(RejectCode.oversize, `envelope is ${bytes.length} bytes, limit ${maxBytes}`),
    );
  }
  const raw = decodeEnvelope(bytes);
  if (raw instanceof ProtocolError) return fail(raw);
  const [version, type, signerKey, bodyBytes, signature] = raw;

  if (version !== PROTOCOL_VERSION) {
    return fail(
      new ProtocolError(RejectCode.unsupportedVersion, `protocol version ${version} is not supported`),
    );
  }
  const expected: readonly T[] =
    typeof opts.expect === "string" ? [opts.expect as T] : (opts.expect as readonly T[]);
  if (!isMessageType(type) || !isOneOf(type, expected)) {
    return fail(
      new ProtocolError(
        RejectCode.wrongType,
        `a ${JSON.stringify(type)} is not accepted here (expected ${expected.join(" or ")})`,
      ),
    );
  }
  const signer = opts.trust.get(signerKey);
  if (!signer)
    return fail(
      new ProtocolError(RejectCode.unknownSigner, `signer ${signerKey.slice(0, 8)}… is not trusted`),
    );
  if (!maySign(signer.role, type)) {
    return fail(
      new ProtocolError(RejectCode.unknownSigner, `${signer.name} (${signer.role}) may not sign a ${type}`),
    );
  }
  return ok({
    version,
    type,
    signer,
    bodyBytes,
    key: signer.key,
    input: signingInput(version, type, bodyBytes),
    signature,
  });
}

/** The steps from the signature on (`verified`: whether it verified): body, TRE, timing, freshness. */
function checkSigned<T extends MessageType>(
  { type, signer, bodyBytes }: Signed<T>,
  verified: boolean,
  opts: OpenOptions<T>,
): Result<VerifiedOf<T>> {
  if (!verified) {
    return fail(new ProtocolError(RejectCode.badSignature, `signature of ${signer.name} does not verify`));
  }

  let body: BodyByType[T];
  try {
    body = bodies[type](unpack(bodyBytes), "") as BodyByType[T];
  } catch (cause) {
    if (cause instanceof FieldError) {
      return fail(
        new ProtocolError(RejectCode.malformed, `${type}: ${cause.message}`, { field: cause.path, cause }),
      );
    }
    return fail(new ProtocolError(RejectCode.malformed, `${type} body is not valid msgpack`, { cause }));
  }

  const bodyTre = "tre" in body ? body.tre : undefined;
  if (signer.tre !== undefined && bodyTre !== signer.tre) {
    return fail(
      new ProtocolError(RejectCode.wrongTre, `${signer.name} may only sign for TRE ${signer.tre}`, {
        field: "tre",
      }),
    );
  }
  if (opts.tre !== undefined && bodyTre !== undefined && bodyTre !== opts.tre) {
    return fail(
      new ProtocolError(RejectCode.wrongTre, `${type} is for TRE ${bodyTre}, this is ${opts.tre}`, {
        field: "tre",
      }),
    );
  }

  const now = opts.now ?? Date.now();
  const skew = opts.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (body.iat > now + skew) {
    return fail(
      new ProtocolError(RejectCode.badTimestamps, `${type} was issued in the future`, { field: "iat" }),
    );
  }
  if (body.exp <= body.iat || body.exp - body.iat > (opts.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS)) {
    return fail(
      new ProtocolError(RejectCode.badTimestamps, `${type} has an invalid validity window`, { field: "exp" }),
    );
  }
  if (!opts.allowExpired && body.exp <= now) {
    return fail(new ProtocolError(RejectCode.expired, `${type} ${body.id} expired`, { field: "exp" }));
  }
  if (opts.replay && !opts.replay.firstSight(`${type}:${body.id}`, body.exp, now)) {
    return fail(
      new ProtocolError(RejectCode.replayed, `${type} ${body.id} was already received`, { field: "id" }),
    );
  }
  // `type` is one of `expect` (checked above) and `body` passed that type's schema.
  return ok({ type, body, signer } as { type: T; body: BodyByType[T]; signer: Principal } as VerifiedOf<T>);
}

/**
 * Reads an envelope's outer fields without verifying anything, for dead-letter records and
 * diagnostics. Returns undefined when even the outer layer is unreadable.
 */
export function peekEnvelope(
  bytes: Uint8Array,
): { version: number; type: string; signer: string } | undefined {
  try {
    const raw = decodeEnvelope(bytes);
    if (raw instanceof ProtocolError) return undefined;
    return { version: raw[0], type: raw[1], signer: raw[2] };
  } catch {
    return undefined;
  }
}
