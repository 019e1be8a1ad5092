/**
 * The JetStream stream behind an audit chain: file storage, one subject, and the server itself refusing
 * message deletes, purges and roll-ups. Once set, the server also refuses to clear `deny_delete` and
 * `deny_purge` again. Deleting the whole stream is an account-permission matter
 * (`$JS.API.STREAM.DELETE.AUDIT`), not a stream setting; `verifyAuditLog`'s anchor detects it.
 */
import {
  DiscardPolicy,
  JetStreamApiError,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from "@nats-io/jetstream";
import { streams, subjects } from "../protocol/index.js";
import { AuditStreamError } from "./audit-errors.js";

/** Largest stored record the stream accepts, in bytes. Records within `auditLimits` stay far below it. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024;

export interface AuditStreamOptions {
  /** The chain's subject token: "hub" on the hub (FED account), the TRE's name on its leaf (CTRL account). */
  scope: string;
  /** Stream name. Default `streams.audit` ("AUDIT"); tests use unique names. */
  stream?: string;
  /**
   * How long records are kept, in ms; 0 keeps them for ever. Default 0: the log is evidence, and a chain
   * with an age limit can only be verified from its oldest kept record (`verifyAuditLog`'s `allowAgedStart`).
   */
  maxAgeMs?: number;
  /** Largest record the server stores, in bytes. Default `DEFAULT_MAX_RECORD_BYTES`: bounds what a rogue publisher can write. */
  maxRecordBytes?: number;
  /** Stream replicas. Default 1; 3 on a clustered hub, so the log survives a lost node. */
  replicas?: number;
  /**
   * Window in which a repeated `Nats-Msg-Id` is dropped as a duplicate, in ms. Default 120 000 (the
   * server's; `maxAgeMs` if shorter): longer than any append's publish retries, so a retried publish is
   * never stored twice.
   */
  duplicateWindowMs?: number;
  /**
   * Let readers get records by sequence (`allow_direct`), which `verifyAuditLog` then uses instead of a consumer, so
   * that a reader needs no right to make consumers. Default false. Only for a stream of one server (a TRE's leaf):
   * on a clustered hub any replica answers a direct get, and one behind the leader would show a shorter chain.
   */
  directReads?: boolean;
}

const NS_PER_MS = 1_000_000;

/** The stream configuration for `options`: what `ensureAuditStream` creates, and what a review can compare. */
export function auditStreamConfig(
  options: AuditStreamOptions,
): Partial<StreamConfig> & { name: string; subjects: string[] } {
  const maxAgeMs = options.maxAgeMs ?? 0;
  if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) {
    throw new RangeError(`maxAgeMs must be a non-negative integer, got ${maxAgeMs}`);
  }
  // The server refuses a duplicate window longer than the age limit.
  const defaultDuplicateWindowMs = maxAgeMs > 0 ? Math.min(120_000, maxAgeMs) : 120_000;
  return {
    name: options.stream ?? streams.audit,
    description: "tremesh audit log: append-only, hash-chained",
    subjects: [subjects.audit(options.scope)],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: maxAgeMs * NS_PER_MS,
    max_msgs: -1,
    max_bytes: -1,
    max_msgs_per_subject: -1,
    max_msg_size: options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES,
    max_consumers: -1,
    // With no count or size limit nothing is ever discarded for space; "new" says so should one be added.
    discard: DiscardPolicy.New,
    num_replicas: options.replicas ?? 1,
    duplicate_window: (options.duplicateWindowMs ?? defaultDuplicateWindowMs) * NS_PER_MS,
    deny_delete: true,
    deny_purge: true,
    allow_rollup_hdrs: false,
    allow_direct: options.directReads ?? false,
  };
}

/**
 * Creates the audit stream, or brings an existing one to `options` (idempotent; safe when several
 * service instances start at once). Refuses a stream of that name that holds other subjects.
 *
 * @example
 * const jsm = await jetstreamManager(nc);
 * await ensureAuditStream(jsm, { scope: "hub" });
 */
export async function ensureAuditStream(
  jsm: JetStreamManager,
  options: AuditStreamOptions,
): Promise<StreamInfo> {
  const config = auditStreamConfig(options);
  try {
    return await jsm.streams.add(config);
  } catch (error) {
    // 10058: exists with another configuration (an identical one is simply returned by add).
    if (!(error instanceof JetStreamApiError && error.code === 10058)) {
      throw new AuditStreamError(config.name, "could not create the stream", { cause: error });
    }
  }
  let existing: StreamInfo;
  try {
    existing = await jsm.streams.info(config.name);
  } catch (cause) {
    throw new AuditStreamError(config.name, "could not read the existing stream", { cause });
  }
  const held = existing.config.subjects ?? [];
  if (held.length !== 1 || held[0] !== config.subjects[0]) {
    throw new AuditStreamError(
      config.name,
      `exists for subjects ${JSON.stringify(held)}, not ${JSON.stringify(config.subjects)}: another chain lives there`,
    );
  }
  try {
    return await jsm.streams.update(config.name, config);
  } catch (cause) {
    throw new AuditStreamError(config.name, "could not update the existing stream", { cause });
  }
}
