/** The hub: its nats-server config and (later) the submission, dispatch, state and result services. */
export { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT, treAccountName } from "./account-names.js";
export { dispatchMsgId, dispatchTask } from "./dispatcher.js";
export { type Project, REGISTRY_BUCKET, Registry, RegistryError, type Researcher } from "./registry.js";
export { ResearcherDirectory } from "./researcher-directory.js";
export {
  type AccountFlow,
  type HubServerModel,
  type HubTreModel,
  hubAccountFlows,
  hubServerConfig,
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
  type AuditSink,
  type SubmissionEvent,
  SubmissionService,
  type SubmissionServiceOptions,
} from "./submission-service.js";
export { deriveParentState, isTerminal, mayTransition, type ParentState } from "./task-lifecycle.js";
export {
  type ChildEvent,
  type ChildRecord,
  TASK_BUCKET,
  type TaskRecord,
  TaskStore,
  TaskStoreError,
} from "./task-store.js";
