/** The hash-chained audit log: its records, the stream that holds them, appending and verifying. */
export {
  AuditAppendError,
  AuditBreak,
  AuditContentionError,
  AuditEntryError,
  AuditReadError,
  AuditStreamError,
} from "./audit-errors.js";
export { type AuditAppended, AuditLog, type AuditLogOptions } from "./audit-log.js";
export {
  type AuditDetail,
  type AuditEntry,
  type AuditHead,
  type AuditRecord,
  auditLimits,
  auditList,
  type DecodedAuditRecord,
  decodeAuditRecord,
} from "./audit-record.js";
export { type AuditStreamOptions, ensureAuditStream } from "./audit-stream.js";
export { type AuditVerification, type VerifyAuditLogOptions, verifyAuditLog } from "./audit-verify.js";
