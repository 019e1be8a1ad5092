/** The hub: its nats-server config and (later) the submission, dispatch, state and result services. */
export { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT, treAccountName } from "./account-names.js";
export {
  type HubServerModel,
  type HubTreModel,
  hubServerConfig,
  hubStreamFlows,
  type StreamFlow,
} from "./server-config.js";
