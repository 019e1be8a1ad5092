/** The researcher's side: submitting tasks, and (to come) verifying and combining released results. */
export { SubmitError, type SubmitOptions, sendSubmission, signSubmission, submit } from "./submit.js";
