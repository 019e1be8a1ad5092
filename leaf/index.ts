/** A TRE's leaf: its nats-server config and (later) the agent: intake, policy, credentials, airlock, egress. */
export { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "./account-names.js";
export {
  type LeafConfig,
  type LeafConfigFile,
  leafConfigSchema,
  loadLeafConfig,
  type ProjectApproval,
} from "./leaf-config.js";
export { type LeafNode, type LeafNodeEvent, type LeafNodeOptions, startLeafNode } from "./leaf-node.js";
export { type LeafServerModel, leafLinkBoundary, leafServerConfig } from "./server-config.js";
export {
  ensureLeafStreams,
  inboxStreamConfig,
  type LeafStreamsOptions,
  outboxStreamConfig,
} from "./streams.js";
