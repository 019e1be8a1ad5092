/** Helpers shared by hub/, leaf/ and the CLI: nats-server binaries, configs and processes. */
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
  AUDIT_GENESIS,
  type AuditDetail,
  type AuditEntry,
  type AuditHead,
  type AuditRecord,
  auditHash,
  auditLimits,
  auditList,
  type DecodedAuditRecord,
  decodeAuditRecord,
} from "./audit-record.js";
export {
  type AuditStreamOptions,
  auditStreamConfig,
  DEFAULT_MAX_RECORD_BYTES,
  ensureAuditStream,
} from "./audit-stream.js";
export { type AuditVerification, type VerifyAuditLogOptions, verifyAuditLog } from "./audit-verify.js";
export {
  ConfigFileError,
  configPath,
  exposedSecretProblem,
  isUserPublicKey,
  type LoadedYaml,
  readSecretFile,
  readSigningKeyFile,
  readYamlConfig,
  userPublicKey,
  validateConfig,
} from "./config-file.js";
export { ConfigModelError } from "./config-model-error.js";
export {
  type CredsFile,
  type CredsFileCredential,
  credsAllowConnectionType,
  type ReadCredsFileOptions,
  readCredsFile,
} from "./creds-file.js";
export {
  DEAD_LETTER_HEAD_BYTES,
  DEAD_LETTER_STREAM,
  type DeadLetter,
  type DeadLetterStreamOptions,
  ensureDeadLetterStream,
} from "./dead-letter.js";
export {
  baseStreamConfig,
  ensureStream,
  isApiError,
  nanos,
  openBucket,
  type StreamSpec,
  setAccountReplicas,
  whileCreating,
} from "./jetstream-streams.js";
export { type Login, type LoginFields, type LoginRules, readLogin } from "./login-form.js";
export {
  findNatsServer,
  isSupportedNatsServerVersion,
  NATS_SERVER_ENV,
  NatsServerNotFoundError,
  natsServerVersion,
} from "./nats-binary.js";
export { type ConfMap, type ConfValue, NatsConfError, toNatsConf } from "./nats-conf.js";
export { type ListenPorts, pinListenPorts } from "./nats-conf-ports.js";
export {
  fetchLeafz,
  fetchMetaCluster,
  type LeafLinkInfo,
  type Leafz,
  type MetaCluster,
  NatsMonitorError,
} from "./nats-monitor.js";
export {
  type NatsServerHandle,
  NatsServerStartError,
  type StartNatsServerOptions,
  startNatsServer,
} from "./nats-server.js";
export { randomPassword } from "./random-password.js";
export {
  type AuditSink,
  type RefusedEvent,
  type Refuser,
  refuseMessage,
} from "./refusal.js";
export { connectService, SERVICE_CONNECTION } from "./service-connection.js";
export { type ConsumeSignedOptions, consumeSigned, SignedConsumer } from "./signed-consumer.js";
export { requestSigned, type SignedClient } from "./signed-request.js";
export {
  type SignedRoute,
  SignedService,
  serveSigned,
  signedRoute,
} from "./signed-service.js";
export { Slots } from "./slots.js";
export {
  isStaleSource,
  observedLink,
  type PeerState,
  resumeStaleSources,
  SourceRestarts,
  type SourceRestartsOptions,
  type StaleSourceOptions,
  type StaleSourceTarget,
  watchStaleSources,
} from "./source-restarts.js";
export { checkCredentials, type PlacedCredential, placeAll, type UserCredential } from "./user-credential.js";
export { WaitTimeoutError, waitFor } from "./wait-for.js";
