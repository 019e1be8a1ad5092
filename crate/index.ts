/** Five Safes RO-Crate 0.4: validating crates against the profile, offline. */

export { type BagProblem, openBag, zipBag } from "./bagit.js";
export type { CrateDecision, CrateOutput, CrateRelease, ResultsCrateInput } from "./crate-input.js";
export {
  type CrateCheck,
  checkCrateZip,
  externalIdentifier,
  zipCombinedCrate,
  zipResultsCrate,
} from "./crate-zip.js";
export { CrateInputError, crateRelease, type VerifiedReleaseLike } from "./from-release.js";
export {
  CRATE_BASE_IRI,
  FIVE_SAFES_PROFILE,
  type Finding,
  type FindingLevel,
  type ValidationReport,
  validateCrateMetadata,
} from "./profile-validator.js";
export { RequestCrateError, type RequestSubmission, requestCrateToSubmission } from "./request-crate.js";
export { readRequestCrate } from "./request-file.js";
export {
  type BuiltCrate,
  buildCombinedCrate,
  buildResultsCrate,
  type CombinedCrateInput,
  type CombinedCrateOutput,
} from "./results-crate.js";
export { analysisWorkflowId } from "./task-entities.js";
