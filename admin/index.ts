/**
 * The federation admin's library: the operator and its accounts (admin-init.ts), onboarding TREs and
 * researchers (admin-onboard.ts), a change of the hub's signing key (admin-hub-key.ts), a TRE account's storage
 * (admin-tre-storage.ts), revocation (admin-revoke.ts), the admin folder that holds their keys (admin-store.ts),
 * the registry's projects (admin-projects.ts), and the whole-federation layouts the demo and the tests start from
 * (federation-*.ts).
 * The `tremesh admin` command only parses flags and prints what these return.
 */
export { AdminError, AdminErrorCode } from "./admin-error.js";
export { beginHubKeyChange, finishHubKeyChange, type HubKeyChange } from "./admin-hub-key.js";
export { type HubNodePlan, type InitOptions, type InitResult, initFederation } from "./admin-init.js";
export { type AddResearcherResult, type AddTreResult, addResearcher, addTre } from "./admin-onboard.js";
export {
  allProjects,
  checkProjectMembers,
  checkProjectTres,
  createProject,
  editProjectList,
  projectNamed,
  putResearcherKey,
  revokeResearcherKey,
} from "./admin-projects.js";
export { pushAll, revokeResearcher, revokeTre } from "./admin-revoke.js";
export { ADMIN_DIR_ENV, AdminStore, type FederationState } from "./admin-store.js";
export {
  BUNDLE_CA,
  type ExternalTls,
  issueLeafCertificate,
  nodeCertificates,
  renewNodeCertificates,
} from "./admin-tls.js";
export { setTreStorage } from "./admin-tre-storage.js";
export type { FederationFiles } from "./federation-files.js";
export { buildOperatorFederation } from "./federation-operator.js";
export { createFederationCa, type IssuedPem, issueCertificate } from "./federation-pki.js";
