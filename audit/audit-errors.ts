/**
 * What can go wrong around the audit log, as data. A broken chain is not among them: `verifyAuditLog`
 * returns that as a result, because finding one is the verifier's job, not a failure of it.
 */

/** An entry that must not be recorded: names the field and what is wrong with it, never echoing its value. */
export class AuditEntryError extends Error {
  override readonly name = "AuditEntryError";
  /** Path of the offending field, e.g. `details.rows` or `action`. */
  readonly field: string;
  readonly problem: string;
  constructor(field: string, problem: string) {
    super(`audit entry \`${field}\`: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}

/**
 * Other writers kept appending between this writer's read of the tail and its publish, `attempts` times
 * in a row. Retryable later; persistent contention means too many writers for one chain.
 */
export class AuditContentionError extends Error {
  override readonly name = "AuditContentionError";
  readonly stream: string;
  readonly attempts: number;
  constructor(stream: string, attempts: number, options?: ErrorOptions) {
    super(`audit stream ${stream}: gave up after ${attempts} attempts lost to concurrent writers`, options);
    this.stream = stream;
    this.attempts = attempts;
  }
}

/** The server refused or never acknowledged an append for a reason other than contention. */
export class AuditAppendError extends Error {
  override readonly name = "AuditAppendError";
  readonly stream: string;
  /** The JetStream API error code, when the server gave one (e.g. 10054 for an oversize record). */
  readonly code: number | undefined;
  constructor(stream: string, problem: string, options?: ErrorOptions & { code?: number | undefined }) {
    super(`audit stream ${stream}: ${problem}`, options);
    this.stream = stream;
    this.code = options?.code;
  }
}

/** The audit stream could not be created or updated, or exists with a shape that is not an audit chain. */
export class AuditStreamError extends Error {
  override readonly name = "AuditStreamError";
  readonly stream: string;
  readonly problem: string;
  constructor(stream: string, problem: string, options?: ErrorOptions) {
    super(`audit stream ${stream}: ${problem}`, options);
    this.stream = stream;
    this.problem = problem;
  }
}

/** The verifier could not read the whole log (no stream, connection lost, delivery stalled). */
export class AuditReadError extends Error {
  override readonly name = "AuditReadError";
  readonly stream: string;
  constructor(stream: string, problem: string, options?: ErrorOptions) {
    super(`audit stream ${stream}: ${problem}`, options);
    this.stream = stream;
  }
}

/**
 * Why a record breaks the chain, as `verifyAuditLog` reports it. One table, so tools classify a break by
 * code, never by message text.
 */
export const AuditBreak = {
  /** Not exactly one msgpack map (garbage, truncated or trailing bytes). */
  badEncoding: "bad_encoding",
  /** A required field (seq, prev, at, actor, action) is absent. */
  missingField: "missing_field",
  /** A field no audit record has. */
  extraField: "extra_field",
  /** A known field with a wrong type or form. */
  badField: "bad_field",
  /** The record's `seq` is not its position in the stream. */
  seqMismatch: "seq_mismatch",
  /** A position in the chain holds no record (deleted, or truncated without an age limit). */
  gap: "gap",
  /** The record's `prev` is not the hash of the record before it. */
  prevMismatch: "prev_mismatch",
  /** The record at the caller's anchor position is missing or is not the anchored record. */
  anchorMismatch: "anchor_mismatch",
} as const;
export type AuditBreak = (typeof AuditBreak)[keyof typeof AuditBreak];
