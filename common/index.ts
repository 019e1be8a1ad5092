/** Helpers shared by hub/, leaf/ and the CLI: nats-server binaries, configs and processes. */

export { asError } from "./as-error.js";
export { InputFileError, readBoundedFile } from "./bounded-file.js";
export {
  ConfigFileError,
  configPath,
  exposedSecretProblem,
  isUserPublicKey,
  kernelFileSystemOf,
  type LoadedYaml,
  readPasswordFile,
  readSecretFile,
  readSigningKeyFile,
  readYamlConfig,
  refuseKernelDir,
  refuseZeroPorts,
  userPublicKey,
  validateConfig,
} from "./config-file.js";
export { ConfigModelError } from "./config-model-error.js";
export {
  type CredsFile,
  type CredsFileCredential,
  credsFileAuthenticator,
  readCredsFile,
} from "./creds-file.js";
export { ensureDeadLetterStream, recordDeadLetter } from "./dead-letter.js";
export { isSystemError, systemErrorTold, systemErrorWhy } from "./file-errors.js";
export {
  baseStreamConfig,
  ensureStream,
  nanos,
  openBucket,
  type StreamSpec,
  setAccountReplicas,
  whilePlacing,
  whileStreamsSettle,
} from "./jetstream-streams.js";
export { keepRecent } from "./keep-recent.js";
export { KeyedChain } from "./keyed-chain.js";
export { type KvValue, latestRecords, latestValues, purgeKeys } from "./kv-scan.js";
export { readLogin } from "./login-form.js";
export { LOOPBACK_HOST } from "./loopback.js";
export { type ConfMap, toNatsConf } from "./nats-conf.js";
export { isLeafnodeInfo, readNatsInfo } from "./nats-info.js";
export { fetchLeafz, fetchMetaCluster, type MonitorTls } from "./nats-monitor.js";
export { type NatsServerHandle, NatsServerStartError, startNatsServer } from "./nats-server.js";
export {
  type NatsListener,
  type NatsPortProblem,
  type NatsStartFailure,
  startFailure,
} from "./nats-start-failure.js";
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
export { softwareVersion } from "./software-version.js";
export {
  observedLink,
  type PeerState,
  SOURCE_CHECK_INTERVAL_MS,
  SourceRestarts,
  watchStaleSources,
} from "./source-restarts.js";
export { quoteIdent, quoteLiteral } from "./sql-quote.js";
export { StopStack } from "./stop-stack.js";
export {
  describeStorageLimit,
  formatBytes,
  isStorageLimit,
  StorageLimitCode,
  type StorageLimitContext,
  StorageLimitError,
  type StorageLimitKind,
} from "./storage-limit.js";
export {
  CERTIFICATE_WARN_DAYS,
  type CertificateInfo,
  type ClientTlsFiles,
  certificateInfo,
  chainProblem,
  daysUntilExpiry,
  isLoopbackHost,
  parseCertificates,
  plaintextProblem,
  readClientTls,
  readServerTls,
  type ServerTlsFiles,
} from "./tls-files.js";
export {
  besideServerTlsOptions,
  clientTlsOptions,
  remoteTlsBlock,
  serverTlsBlock,
  TLS_FIRST_FALLBACK,
  TLS_VERSIONS,
  type TlsVersion,
} from "./tls-options.js";
export { probeTls, type TlsProbeResult } from "./tls-probe.js";
export { checkCredentials, placeAll, type UserCredential } from "./user-credential.js";
export { WaitTimeoutError, waitFor } from "./wait-for.js";
