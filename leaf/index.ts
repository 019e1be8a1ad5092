/**
 * A TRE's leaf: a node started from leaf.yaml (its nats-server and the agent: intake, policy, credentials,
 * airlock, egress) and the disclosure rules it applies. The parts are internal; tests reach them by their files.
 */
export type { NatsServerHandle } from "../common/index.js";
/** The agent as `LeafNode.agent` holds it (started by the node, not on its own). */
export type { Agent } from "./agent.js";
export { approvalWarnings } from "./approval-warnings.js";
export { containerStartWarnings, missingImageWarning } from "./container-start-warnings.js";
export { datasetFileWarnings } from "./dataset-file-warnings.js";
export { DEFAULT_DISCLOSURE_RULES, type DisclosureRules } from "./disclosure-rules.js";
export { type LeafConfig, type LeafConfigFile, loadLeafConfig, type ProjectApproval } from "./leaf-config.js";
export { LEAF_DEFAULTS } from "./leaf-defaults.js";
export { type LeafNode, type LeafNodeEvent, type LeafNodeOptions, startLeafNode } from "./leaf-node.js";
