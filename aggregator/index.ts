/** The researcher's side: submitting tasks, following them, and (to come) verifying and combining released results. */
export {
  cancelTask,
  fetchReleases,
  fetchTask,
  fetchTres,
  HubRequestError,
  type RequestOptions,
} from "./researcher-requests.js";
export { SubmitError, type SubmitOptions, sendSubmission, signSubmission, submit } from "./submit.js";
