/** Five Safes RO-Crate 0.4: validating crates against the profile, offline. */
export {
  CRATE_BASE_IRI,
  FIVE_SAFES_PROFILE,
  type Finding,
  type FindingLevel,
  type ValidationReport,
  validateCrateMetadata,
} from "./profile-validator.js";
