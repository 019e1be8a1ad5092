/** Five Safes RO-Crate 0.4: building, signing and checking crates, validated against the profile offline. */

export { SIGNATURE_FILE } from "./bag-signature.js";
export { type BagProblem, bagProblemText, MAX_BAG_BYTES, openBag, zipBag } from "./bagit.js";
export type {
  CrateDecision,
  CrateOutput,
  CrateRelease,
  CrateTask,
  ResultsCrateInput,
} from "./crate-input.js";
export {
  bagInfo,
  type CrateCheck,
  checkCrateZip,
  externalIdentifier,
  validateCrateMetadata,
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
} from "./profile-iri.js";
export {
  crateFacts,
  type RegisterEntry,
  type RegisteredProject,
  type RegistryField,
  registerEntries,
} from "./register.js";
export { carriedDigests, crateFromRelease, MAX_RELEASE_CRATE_BYTES } from "./release-crate.js";
export { RequestCrateError, type RequestSubmission, requestCrateToSubmission } from "./request-crate.js";
export { type RequestCrateFile, readRequestCrate } from "./request-file.js";
export {
  type BuiltCrate,
  buildCombinedCrate,
  buildResultsCrate,
  type CombinedCrateInput,
  type CombinedCrateOutput,
} from "./results-crate.js";
export { analysisWorkflowId } from "./task-entities.js";
export { withheldOf } from "./tre-phases.js";
