/** The tremesh wire protocol: names, subjects, keys, signed envelopes and message bodies. */
export {
  type AirlockDecisionView,
  AirlockErrorCode,
  type AirlockFinding,
  type AirlockOutputView,
  type AirlockReply,
  type AirlockTaskView,
  airlockReply,
  type CheckOutcome,
  type HeldOutputState,
} from "./airlock-api.js";
export {
  type AnalysisKind,
  type AnalysisSpec,
  analysisSpec,
  type Filter,
  IDENTIFIER,
  IMAGE_REF,
} from "./analysis.js";
export {
  type Attempts,
  ChildTransitionError,
  checkChildStep,
  deriveParentState,
  isChildStep,
  isPassedStep,
  isReleaseOutcome,
  isRetryStep,
  isSettled,
  isTerminal,
  mayTransition,
  RETRY_STEP,
  type ReleaseOutcome,
  releaseOutcome,
} from "./child-lifecycle.js";
export { pack, unpack } from "./codec.js";
export {
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_ENVELOPE_BYTES,
  DEFAULT_MAX_LIFETIME_MS,
  type FreshFields,
  type OpenOptions,
  openEnvelope,
  openEnvelopeAsync,
  PROTOCOL_VERSION,
  peekEnvelope,
  sealEnvelope,
  sealFresh,
  type Verified,
  type VerifiedOf,
} from "./envelope.js";
export {
  DeadLetterCode,
  ProtocolError,
  type Refusal,
  RejectCode,
  type Result,
  refusal,
  refusalOf,
} from "./errors.js";
export { uniqueSafeNames } from "./file-names.js";
export { newId } from "./ids.js";
export { openTaskMessage, type TaskSubject } from "./intake.js";
export {
  generateKeyPair,
  isPublicKey,
  KeyFormatError,
  type SigningKey,
  signingKeyFromSeed,
  verifyingKey,
  verifySignature,
} from "./keys.js";
export {
  type BodyByType,
  type Cancel,
  type CancelRequest,
  type ChildState,
  childStates,
  type Decision,
  type Dispatch,
  EXTERNAL_ID,
  type Heartbeat,
  isMessageType,
  MAX_ATTEMPT,
  MAX_PASSED,
  MAX_QUERY_WAIT_MS,
  MAX_SUBMISSION_BYTES,
  MEDIA_TYPE,
  type Message,
  type MessageType,
  messageTypes,
  type Query,
  type Release,
  type ReleasedOutput,
  type ReviewQuery,
  type StatusEvent,
  type Submission,
} from "./messages.js";
export { isTaskId, isTreName, PROJECT_NAME, TRE_NAME, ULID } from "./names.js";
export {
  type AnalysisOutput,
  analysisOutput,
  type CellKey,
  type CountOutput,
  type CrosstabOutput,
  compareKeys,
  compareKeyValues,
  DEFAULT_MAX_OUTPUT_BYTES,
  decodeOutput,
  encodeOutput,
  type HistogramOutput,
  INTERCEPT_TERM,
  type KeyValue,
  OUTPUT_MEDIA_TYPE,
  type OutputKind,
  type RegressionOutput,
  regressionTerms,
  type SummaryOutput,
  type Suppression,
} from "./outputs.js";
export { MemoryReplayGuard, type ReplayGuard } from "./replay-guard.js";
export { SubmitRejectCode, type SubmitReply, submitReply } from "./replies.js";
export {
  ApiErrorCode,
  type ApiReply,
  apiReply,
  type ChildView,
  type ParentState,
  parentStates,
  type TaskView,
  type TreLiveness,
} from "./researcher-api.js";
export {
  deadLetterSubject,
  HUB_DOMAIN,
  jsApiPrefix,
  parseTreSubject,
  streams,
  subjects,
  type TreSubject,
} from "./subjects.js";
export { type Principal, type Role, TrustStore } from "./trust.js";
export {
  arr,
  bool,
  bytes,
  type Check,
  FieldError,
  type Infer,
  int,
  literal,
  num,
  obj,
  optional,
  record,
  str,
  tagged,
} from "./validate.js";
