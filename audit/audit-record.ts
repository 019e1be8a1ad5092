/**
 * One audit record: what a caller may say (an entry), how it is stored (msgpack bytes with its position
 * and the previous record's hash) and how stored bytes are read back without trusting them.
 *
 * Entries say who did what, when, to which task or output. They never carry data values, query results,
 * credentials or secrets: the log is read by operators and auditors, and kept for as long as the TRE
 * keeps evidence. The limits below keep it that way (short strings, a few scalar details).
 */
import { createHash } from "node:crypto";
import { isTaskId, isTreName, pack, unpack } from "../protocol/index.js";
import { AuditBreak, AuditEntryError } from "./audit-errors.js";

/** A detail value: scalars only, so a record can never smuggle a table or a blob. */
export type AuditDetail = string | number | boolean;

/** What a caller records. Who did what (a short dotted verb such as `task.submitted`), to which task/output. */
export interface AuditEntry {
  /** Who: a service instance name, or a user's or reviewer's public nkey. Visible ASCII, at most 128 characters. */
  actor: string;
  /** What: a short dotted verb, lower-case, 2 to 4 parts: `task.submitted`, `airlock.output.released`. */
  action: string;
  /** The task it concerns (a ULID). */
  taskId?: string;
  /** The output it concerns. */
  outputId?: string;
  /** The TRE it concerns. */
  tre?: string;
  /** A few scalar facts (counts, states, reasons): at most 16, strings at most 256 characters. Never data values. */
  details?: Readonly<Record<string, AuditDetail>>;
}

/** A stored record: the entry plus its place in the chain. */
export interface AuditRecord extends AuditEntry {
  /** 1-based position in the chain, equal to the record's stream sequence. */
  seq: number;
  /** Hex sha256 of the previous record's stored bytes; `AUDIT_GENESIS` for the first record. */
  prev: string;
  /** When the writer appended it, ms since the epoch (the writer's clock: concurrent writers may disagree). */
  at: number;
}

/** The chain's end: the last record's position and hash (0 and `AUDIT_GENESIS` when empty). */
export interface AuditHead {
  seq: number;
  hash: string;
}

/** The `prev` of record 1: no record before it. */
export const AUDIT_GENESIS = "0".repeat(64);

/** Limits on entries; a record within them encodes to well under `DEFAULT_MAX_RECORD_BYTES`. */
export const auditLimits = {
  actorChars: 128,
  actionChars: 64,
  outputIdChars: 128,
  detailCount: 16,
  detailKeyChars: 64,
  detailStringChars: 256,
} as const;

/**
 * A list as one audit detail (`a,b,c`), within `detailStringChars`: a long one (a task sent to a hundred TREs)
 * keeps the names that fit and says how many more there were, rather than failing the record.
 */
export function auditList(items: readonly string[]): string {
  const all = items.join(",");
  if (all.length <= auditLimits.detailStringChars) return all;
  let kept = "";
  for (const [i, item] of items.entries()) {
    const next = kept === "" ? item : `${kept},${item}`;
    const more = `,… ${items.length - i - 1} more`;
    if (next.length + more.length > auditLimits.detailStringChars) {
      return `${kept},… ${items.length - i} more`;
    }
    kept = next;
  }
  return kept;
}

/** The hash that links a record to the next one: hex sha256 of its stored bytes. */
export function auditHash(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const ACTOR = /^[\x21-\x7e]+$/;
const ACTION = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*){1,3}$/;
const OUTPUT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DETAIL_KEY = /^[A-Za-z][A-Za-z0-9_]*$/;
const HASH = /^[0-9a-f]{64}$/;

const ENTRY_FIELDS = ["actor", "action", "taskId", "outputId", "tre", "details"] as const;
const RECORD_FIELDS = new Set<string>(["seq", "prev", "at", ...ENTRY_FIELDS]);
const ENTRY_FIELD_SET = new Set<string>(ENTRY_FIELDS);

interface Problem {
  reason: typeof AuditBreak.missingField | typeof AuditBreak.extraField | typeof AuditBreak.badField;
  field: string;
  problem: string;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function isShortIdentifier(key: string, max: number): boolean {
  return key.length <= max && DETAIL_KEY.test(key);
}

function bad(field: string, problem: string): Problem {
  return { reason: AuditBreak.badField, field, problem };
}

function checkString(
  v: unknown,
  field: string,
  max: number,
  pattern: RegExp,
  what: string,
): Problem | undefined {
  if (typeof v !== "string") return bad(field, `must be a string, got ${typeof v}`);
  if (v.length === 0 || v.length > max)
    return bad(field, `must have 1 to ${max} characters, has ${v.length}`);
  return pattern.test(v) ? undefined : bad(field, `is not ${what}`);
}

function checkDetails(v: unknown): Problem | undefined {
  if (!isPlainObject(v)) return bad("details", "must be a map of scalar values");
  const keys = Object.keys(v);
  if (keys.length > auditLimits.detailCount) {
    return bad("details", `has ${keys.length} entries, at most ${auditLimits.detailCount} allowed`);
  }
  for (const key of keys) {
    if (!isShortIdentifier(key, auditLimits.detailKeyChars)) {
      return bad("details", "has a key that is not a short identifier");
    }
    const where = `details.${key}`;
    const value = v[key];
    if (typeof value === "string") {
      if (value.length > auditLimits.detailStringChars) {
        return bad(where, `must have at most ${auditLimits.detailStringChars} characters`);
      }
    } else if (typeof value === "number") {
      if (!Number.isFinite(value)) return bad(where, "must be a finite number");
    } else if (typeof value !== "boolean") {
      return bad(where, `must be a string, number or boolean, got ${value === null ? "null" : typeof value}`);
    }
  }
  return undefined;
}

/** The first problem with the entry fields of `v` (which must be a plain object), or undefined. */
function entryProblem(v: Record<string, unknown>, allowed: ReadonlySet<string>): Problem | undefined {
  for (const key of Object.keys(v)) {
    if (!allowed.has(key)) {
      const shown = isShortIdentifier(key, 32) ? key : "(a key that is not a short identifier)";
      return { reason: AuditBreak.extraField, field: shown, problem: "is not an audit record field" };
    }
  }
  for (const key of ["actor", "action"] as const) {
    if (!(key in v)) return { reason: AuditBreak.missingField, field: key, problem: "is required" };
  }
  const required =
    checkString(v.actor, "actor", auditLimits.actorChars, ACTOR, "visible ASCII without spaces") ??
    checkString(
      v.action,
      "action",
      auditLimits.actionChars,
      ACTION,
      "a dotted lower-case verb like task.submitted",
    );
  if (required !== undefined) return required;
  for (const [key, check] of OPTIONAL_CHECKS) {
    const problem = v[key] === undefined ? undefined : check(v[key]);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function checkTaskId(v: unknown): Problem | undefined {
  return typeof v === "string" && isTaskId(v) ? undefined : bad("taskId", "is not a task id (ULID)");
}

const OPTIONAL_CHECKS: readonly [string, (v: unknown) => Problem | undefined][] = [
  ["taskId", checkTaskId],
  [
    "outputId",
    (v) =>
      checkString(v, "outputId", auditLimits.outputIdChars, OUTPUT_ID, "a token of letters, digits, . _ -"),
  ],
  ["tre", (v) => (typeof v === "string" && isTreName(v) ? undefined : bad("tre", "is not a TRE name"))],
  ["details", checkDetails],
];

/**
 * Checks an entry at the edge and returns a fresh copy holding only its fields (so a later change to the
 * caller's object cannot alter what was hashed). Throws AuditEntryError naming the first bad field.
 */
export function checkAuditEntry(entry: AuditEntry): AuditEntry {
  if (!isPlainObject(entry)) throw new AuditEntryError("(entry)", "must be a plain object");
  const problem = entryProblem(entry, ENTRY_FIELD_SET);
  if (problem !== undefined) throw new AuditEntryError(problem.field, problem.problem);
  const copy: AuditEntry = { actor: entry.actor, action: entry.action };
  if (entry.taskId !== undefined) copy.taskId = entry.taskId;
  if (entry.outputId !== undefined) copy.outputId = entry.outputId;
  if (entry.tre !== undefined) copy.tre = entry.tre;
  if (entry.details !== undefined) copy.details = { ...entry.details };
  return copy;
}

/** Encodes a record (its entry already checked) in one fixed field order. */
export function encodeAuditRecord(
  chain: { seq: number; prev: string; at: number },
  entry: AuditEntry,
): Uint8Array {
  const record: AuditRecord = {
    seq: chain.seq,
    prev: chain.prev,
    at: chain.at,
    actor: entry.actor,
    action: entry.action,
  };
  if (entry.taskId !== undefined) record.taskId = entry.taskId;
  if (entry.outputId !== undefined) record.outputId = entry.outputId;
  if (entry.tre !== undefined) record.tre = entry.tre;
  if (entry.details !== undefined) record.details = entry.details;
  return pack(record);
}

export type DecodedAuditRecord =
  | { ok: true; record: AuditRecord }
  | { ok: false; reason: AuditBreak; field: string | undefined; message: string };

/** Reads stored bytes as a record. Never throws: hostile bytes become a reason. */
export function decodeAuditRecord(bytes: Uint8Array): DecodedAuditRecord {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    return { ok: false, reason: AuditBreak.badEncoding, field: undefined, message: "not one msgpack value" };
  }
  if (!isPlainObject(value)) {
    return { ok: false, reason: AuditBreak.badEncoding, field: undefined, message: "not a msgpack map" };
  }
  const problem = chainProblem(value) ?? entryProblem(value, RECORD_FIELDS);
  if (problem !== undefined) {
    return {
      ok: false,
      reason: problem.reason,
      field: problem.field,
      message: `\`${problem.field}\` ${problem.problem}`,
    };
  }
  return { ok: true, record: value as unknown as AuditRecord };
}

function chainProblem(v: Record<string, unknown>): Problem | undefined {
  // msgpack can encode `undefined`; a stored record never holds one, so it is not a way to add a field.
  const undefinedKey = Object.keys(v).find((key) => RECORD_FIELDS.has(key) && v[key] === undefined);
  if (undefinedKey !== undefined) return bad(undefinedKey, "must not be undefined");
  for (const key of ["seq", "prev", "at"] as const) {
    if (!(key in v)) return { reason: AuditBreak.missingField, field: key, problem: "is required" };
  }
  if (typeof v.seq !== "number" || !Number.isSafeInteger(v.seq) || v.seq < 1) {
    return bad("seq", "must be a positive integer");
  }
  if (typeof v.prev !== "string" || !HASH.test(v.prev))
    return bad("prev", "must be 64 lower-case hex digits");
  if (typeof v.at !== "number" || !Number.isSafeInteger(v.at) || v.at < 0) {
    return bad("at", "must be a non-negative integer (ms)");
  }
  return undefined;
}
