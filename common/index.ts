/** Helpers shared by hub/, leaf/ and the CLI: nats-server binaries, configs and processes. */
export { ConfigModelError } from "./config-model-error.js";
export {
  findNatsServer,
  isSupportedNatsServerVersion,
  NATS_SERVER_ENV,
  NatsServerNotFoundError,
  natsServerVersion,
} from "./nats-binary.js";
export { type ConfMap, type ConfValue, NatsConfError, toNatsConf } from "./nats-conf.js";
export { type ListenPorts, pinListenPorts } from "./nats-conf-ports.js";
export { fetchLeafz, type LeafLinkInfo, type Leafz, NatsMonitorError } from "./nats-monitor.js";
export {
  type NatsServerHandle,
  NatsServerStartError,
  type StartNatsServerOptions,
  startNatsServer,
} from "./nats-server.js";
export { randomPassword } from "./random-password.js";
export { checkCredentials, type PlacedCredential, placeAll, type UserCredential } from "./user-credential.js";
export { WaitTimeoutError, waitFor } from "./wait-for.js";
