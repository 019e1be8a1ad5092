/** The hub: its nats-server config and (later) the submission, dispatch, state and result services. */
export { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT, RESEARCH_ACCOUNT, treAccountName } from "./account-names.js";
export { dispatchMsgId, dispatchTask } from "./dispatcher.js";
export {
  type HubClusterConfig,
  type HubConfig,
  type HubConfigFile,
  type HubOperatorConfig,
  hubConfigSchema,
  loadHubConfig,
} from "./hub-config.js";
export { type HubNode, type HubNodeEvent, type HubNodeOptions, startHubNode } from "./hub-node.js";
export {
  type HubServiceEvent,
  type HubServices,
  type HubServicesOptions,
  startHubServices,
  treTrustStore,
} from "./hub-services.js";
export {
  LIVENESS_BUCKET,
  type LivenessEvent,
  LivenessTracker,
  type LivenessTrackerOptions,
} from "./liveness-tracker.js";
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
export { type HubOperatorServerModel, hubOperatorServerConfig } from "./operator-server-config.js";
export {
  type Project,
  REGISTRY_BUCKET,
  Registry,
  RegistryError,
  type Researcher,
  type TreEntry,
} from "./registry.js";
export { ResearcherApi, type ResearcherApiEvent, type ResearcherApiOptions } from "./researcher-api.js";
export { ResearcherDirectory } from "./researcher-directory.js";
export {
  type AccountFlow,
  clusterBlock,
  type HubClusterModel,
  type HubListeners,
  type HubServerModel,
  type HubTreModel,
  hubAccountFlows,
  hubServerConfig,
  ROUTE_URL,
  researcherAccountFlows,
  SERVER_NAME,
} from "./server-config.js";
export {
  RELEASE_BUCKET,
  StatusTracker,
  type StatusTrackerEvent,
  type StatusTrackerOptions,
} from "./status-tracker.js";
export {
  ensureFedStreams,
  ensureTreStreams,
  type FedStreamsOptions,
  fedResultsStreamConfig,
  resultsStreamConfig,
  type TreStreamsOptions,
  tasksStreamConfig,
} from "./streams.js";
export {
  type SubmissionEvent,
  SubmissionService,
  type SubmissionServiceOptions,
} from "./submission-service.js";
export {
  type ChildEvent,
  type ChildRecord,
  TASK_BUCKET,
  type TaskRecord,
  TaskStore,
  TaskStoreError,
} from "./task-store.js";
export { TreDirectory, type TreDirectoryChange, type TreMember } from "./tre-directory.js";
export type { HubTreEvent } from "./tre-operations.js";
