/**
 * The hub: a node started from hub.yaml (its nats-server and the submission, dispatch, status, liveness and
 * researcher services it runs), the project registry, and the operator's account and user JWTs the
 * federation admin signs. The services themselves are internal; tests reach them by their files.
 */

export type { NatsServerHandle, UserCredential } from "../common/index.js";
export { treAccountName } from "./account-names.js";
export {
  type HubClusterConfig,
  type HubConfig,
  type HubConfigFile,
  type HubOperatorConfig,
  loadHubConfig,
} from "./hub-config.js";
export { HUB_DEFAULTS } from "./hub-defaults.js";
export { type HubNode, type HubNodeEvent, type HubNodeOptions, startHubNode } from "./hub-node.js";
/** The services a hub node runs, as `HubNode.services` holds them (started by the node, not on their own). */
export type { HubServices } from "./hub-services.js";
export {
  type FedAccountSpec,
  fedAccountJwt,
  leafLinkPermissions,
  newUserCreds,
  operatorJwt,
  type ResearchAccountSpec,
  researchAccountJwt,
  researcherPermissions,
  type Seed,
  systemAccountJwt,
  type TreAccountSpec,
  treAccountJwt,
  treOpsPermissions,
  type UserPermissions,
  type UserSpec,
} from "./operator-claims.js";
export {
  ONE_LINE_TEXT,
  PROJECT_TEXT_MAX,
  type Project,
  Registry,
  RegistryError,
  type Researcher,
  type TreEntry,
} from "./registry.js";
export { SERVER_NAME } from "./server-config.js";
export { TreDirectory, type TreDirectoryChange, type TreMember } from "./tre-directory.js";
export type { HubTreEvent } from "./tre-operations.js";
