/**
 * Whether the hub accepts a verified Submission: the researcher is registered, the project exists, the
 * researcher is a member, the project's approval covers `now`, and every TRE named is on the project. Pure: the
 * submission service looks the researcher and the project up, then asks here.
 */
import { type Submission, SubmitRejectCode } from "../protocol/index.js";
import type { Project, Researcher } from "./registry.js";

export type SubmissionAdmission =
  | { ok: true; researcher: Researcher; project: Project }
  | { ok: false; code: SubmitRejectCode; message: string; field?: string };

const refuse = (code: SubmitRejectCode, message: string, field?: string): SubmissionAdmission => ({
  ok: false,
  code,
  message,
  ...(field ? { field } : {}),
});

/**
 * @example
 * const admitted = admitSubmission(body, researchers.byKey(signerKey), await registry.project(body.project), now);
 * if (!admitted.ok) return reject(admitted.code, admitted.message, admitted.field);
 */
export function admitSubmission(
  submission: Submission,
  researcher: Researcher | undefined,
  project: Project | undefined,
  now: number,
): SubmissionAdmission {
  if (!researcher) return refuse(SubmitRejectCode.unknownSigner, "researcher is not registered");
  if (!project)
    return refuse(
      SubmitRejectCode.unknownProject,
      `no project ${JSON.stringify(submission.project)}`,
      "project",
    );
  if (!project.members.includes(researcher.name)) {
    return refuse(SubmitRejectCode.notAMember, `${researcher.name} is not a member of ${project.name}`);
  }
  if (now < project.startsAt || now >= project.endsAt) {
    return refuse(
      SubmitRejectCode.projectInactive,
      `project ${project.name} is approved from ${new Date(project.startsAt).toISOString()} to ${new Date(project.endsAt).toISOString()}`,
    );
  }
  const missing = submission.tres.findIndex((t) => !project.tres.includes(t));
  if (missing >= 0) {
    return refuse(
      SubmitRejectCode.treNotInProject,
      `TRE ${JSON.stringify(submission.tres[missing])} is not on project ${project.name}`,
      `tres[${missing}]`,
    );
  }
  return { ok: true, researcher, project };
}
