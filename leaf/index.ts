/** A TRE's leaf: its nats-server config and (later) the agent: intake, policy, credentials, airlock, egress. */
export { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "./account-names.js";
export { type LeafServerModel, leafServerConfig } from "./server-config.js";
