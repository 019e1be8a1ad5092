/**
 * Why a message was refused. One table, so every party (and every dead-letter record)
 * classifies a rejection by `code`, never by message text.
 */
export const RejectCode = {
  /** Larger than the receiver's limit; not decoded at all. */
  oversize: "oversize",
  /** Not a well-formed envelope or body: bad msgpack, wrong shape, bad field. */
  malformed: "malformed",
  /** Protocol version this receiver does not speak. */
  unsupportedVersion: "unsupported_version",
  /** A message type this receiver does not accept on this subject. */
  wrongType: "wrong_type",
  /** Signer's public key is not in the receiver's trust store, or not trusted for this type. */
  unknownSigner: "unknown_signer",
  /** Signature does not verify over (version, type, body). */
  badSignature: "bad_signature",
  /** Past its expiry. */
  expired: "expired",
  /** Issued in the future, beyond the allowed clock skew, or valid for longer than allowed. */
  badTimestamps: "bad_timestamps",
  /** Id already seen within its validity window. */
  replayed: "replayed",
  /** Addressed to, or signed for, another TRE. */
  wrongTre: "wrong_tre",
} as const;
export type RejectCode = (typeof RejectCode)[keyof typeof RejectCode];

/** A refused message: `code` for programs, `message` for people, `field` where one field is at fault. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  readonly code: RejectCode;
  readonly field: string | undefined;

  constructor(code: RejectCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.field = options?.field;
  }

  /** The wire form used in replies and dead-letter records. */
  toWire(): { code: RejectCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

/** A result that carries its failure as data instead of throwing. */
export type Result<T, E = ProtocolError> = { ok: true; value: T } | { ok: false; error: E };

export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

export function fail<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}

/**
 * Why a receiver dead-lettered a message: the envelope checks of `RejectCode`, and the receivers' own checks of
 * where it came and what it names. One table for every dead letter of the hub and the leaves.
 */
export const DeadLetterCode = {
  ...RejectCode,
  /** Not a subject this receiver takes, or a message naming another task than its subject. */
  wrongSubject: "wrong_subject",
  /** The hub has no such task. */
  unknownTask: "unknown_task",
  /** A Cancel of a task that has already ended at this TRE: it changes nothing. */
  alreadyEnded: "already_ended",
  /** A TRE's refusal of a Dispatch it never received (`StatusEvent.unpinnedHubKey`), for a task it has reported steps of. */
  alreadyReceived: "already_received",
} as const;
export type DeadLetterCode = (typeof DeadLetterCode)[keyof typeof DeadLetterCode];

/** Why one message is refused: what its dead letter, audit record and event say. */
export interface Refusal {
  code: DeadLetterCode;
  message: string;
  /** The field at fault, where there is one. */
  field?: string;
}

export function refusal(code: DeadLetterCode, message: string, field?: string): Refusal {
  return { code, message, ...(field === undefined ? {} : { field }) };
}

/** The refusal of an envelope that did not open. */
export function refusalOf(error: ProtocolError): Refusal {
  return refusal(error.code, error.message, error.field);
}
