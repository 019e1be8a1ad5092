/** A TRE's leaf: its nats-server config and (later) the agent: intake, policy, credentials, airlock, egress. */
export { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "./account-names.js";
export {
  Agent,
  type AgentEvent,
  type AgentOptions,
  type CredentialGrant,
  type CredentialIssuer,
} from "./agent.js";
export { AGENT_TASKS_BUCKET, AgentState, type AgentTask, type AgentTaskEvent } from "./agent-state.js";
export { AIRLOCK_BUCKET, AirlockStore, type HeldOutput } from "./airlock-store.js";
export {
  CredentialBroker,
  CredentialBrokerError,
  type IssuedCredential,
  type PostgresBrokerOptions,
} from "./credential-broker.js";
export {
  type LeafConfig,
  type LeafConfigFile,
  leafConfigSchema,
  loadLeafConfig,
  type ProjectApproval,
} from "./leaf-config.js";
export { type LeafNode, type LeafNodeEvent, type LeafNodeOptions, startLeafNode } from "./leaf-node.js";
export { authorise, datasetsOf, type PolicyDecision } from "./policy.js";
export { type LeafServerModel, leafLinkBoundary, leafServerConfig } from "./server-config.js";
export {
  ensureLeafStreams,
  inboxStreamConfig,
  type LeafStreamsOptions,
  outboxStreamConfig,
} from "./streams.js";
