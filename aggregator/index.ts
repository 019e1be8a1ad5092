/** The researcher's side: submitting tasks, following them, verifying released results and combining them. */
export { type CombinedOutput, collectResults, type TaskResults, type TreFile } from "./collect-results.js";
export { combineOutputs } from "./combine.js";
export { CombineError, CombineErrorCode } from "./combine-error.js";
export type {
  Coefficient,
  CombinedResult,
  CountCell,
  CountResult,
  CrosstabResult,
  HistogramResult,
  RegressionFit,
  RegressionResult,
  SummaryCell,
  SummaryResult,
  SummaryStat,
  TreOutput,
  TreRegression,
} from "./combined-result.js";
export type { Interval } from "./interval.js";
export { type ExcludedRelease, ExclusionCode } from "./release-exclusion.js";
export { renderTables } from "./render.js";
export { toCsv } from "./render-csv.js";
export { formatKeyValue, formatNumber, textTable } from "./render-format.js";
export { AGGREGATE_JSON_FORMAT, fileJson, toJson } from "./render-json.js";
export { toSvg } from "./render-svg.js";
export {
  type ChangeOptions,
  cancelTask,
  fetchReleases,
  fetchTask,
  fetchTres,
  HubRequestError,
  listTasks,
  type RequestOptions,
} from "./researcher-requests.js";
export { SubmitError, type SubmitOptions, sendSubmission, signSubmission, submit } from "./submit.js";
export {
  type ContainerSpec,
  TES_DATASET_URL,
  TesImportError,
  type TesImportOptions,
  type TesSubmission,
  tesTaskToSubmission,
} from "./tes.js";
export {
  type VerifiedFile,
  type VerifiedOutput,
  type VerifiedRelease,
  type VerifyOptions,
  verifyReleases,
} from "./verify-release.js";
