/** A TRE's leaf: its nats-server config and the agent: intake, policy, credentials, airlock, egress. */
export { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "./account-names.js";
export { Agent, type AgentEvent, type AgentOptions } from "./agent.js";
export { AGENT_TASKS_BUCKET, AgentState, type AgentTask, type AgentTaskEvent } from "./agent-state.js";
export { Airlock, type AirlockEvent, type AirlockOptions, type ReviewPolicy } from "./airlock.js";
export { applyDecision, type DecisionOutcome } from "./airlock-decision.js";
export { AirlockService } from "./airlock-service.js";
export {
  AIRLOCK_BUCKET,
  AirlockStore,
  type EgressRecord,
  type HeldDecision,
  type HeldOutput,
  type HeldTask,
} from "./airlock-store.js";
export {
  CredentialBroker,
  CredentialBrokerError,
  type IssuedCredential,
  type PostgresBrokerOptions,
} from "./credential-broker.js";
export { type CheckOutcome, checkOutput, type DisclosureReport, type Finding } from "./disclosure-checks.js";
export { DEFAULT_DISCLOSURE_RULES, type DisclosureRules, disclosureRules } from "./disclosure-rules.js";
export {
  type LeafConfig,
  type LeafConfigFile,
  leafConfigSchema,
  loadLeafConfig,
  type ProjectApproval,
} from "./leaf-config.js";
export { type LeafNode, type LeafNodeEvent, type LeafNodeOptions, startLeafNode } from "./leaf-node.js";
export { authorise, datasetsOf, type PolicyDecision } from "./policy.js";
export {
  NotifyError,
  notifyReviewers,
  type ReviewNotice,
  type ReviewNotifyOptions,
} from "./review-notifier.js";
export {
  type LeafServerModel,
  leafLinkBoundary,
  leafServerConfig,
  reviewerPermissions,
} from "./server-config.js";
export {
  ensureLeafStreams,
  inboxStreamConfig,
  type LeafStreamsOptions,
  outboxStreamConfig,
} from "./streams.js";
export type { CredentialGrant, CredentialIssuer } from "./task-execution.js";
