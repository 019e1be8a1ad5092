/**
 * The TRE's own approval of a task, from leaf.yaml alone: the agent never trusts the hub's authorisation.
 * A task runs only if this TRE has approved its project (and the approval has not ended), the signing
 * researcher for that project, the analysis kind, every dataset it reads, and (for containers) the image.
 */
import type { AnalysisSpec } from "../protocol/index.js";
import type { ProjectApproval } from "./leaf-config.js";

export type PolicyDecision = { ok: true; project: ProjectApproval } | { ok: false; reason: string };

export interface PolicyInput {
  project: string;
  /** The researcher's name as this TRE knows their key (undefined: the key is unknown here). */
  researcher: string | undefined;
  analysis: AnalysisSpec;
  now: number;
}

/** The datasets an analysis reads. */
export function datasetsOf(analysis: AnalysisSpec): string[] {
  return analysis.kind === "container" ? (analysis.datasets ?? []) : [analysis.dataset];
}

export function authorise(
  input: PolicyInput,
  projects: readonly ProjectApproval[],
  knownDatasets: ReadonlySet<string>,
): PolicyDecision {
  const project = projects.find((p) => p.name === input.project);
  if (!project) return { ok: false, reason: `this TRE has not approved project ${input.project}` };
  if (project.until !== undefined && input.now >= project.until) {
    return {
      ok: false,
      reason: `this TRE's approval of project ${project.name} ended ${new Date(project.until).toISOString()}`,
    };
  }
  if (input.researcher === undefined)
    return { ok: false, reason: "the researcher's key is not known to this TRE" };
  if (!project.researchers.includes(input.researcher)) {
    return { ok: false, reason: `this TRE has not approved ${input.researcher} for project ${project.name}` };
  }
  if (!project.analyses.includes(input.analysis.kind)) {
    return {
      ok: false,
      reason: `this TRE does not allow ${input.analysis.kind} analyses for project ${project.name}`,
    };
  }
  for (const dataset of datasetsOf(input.analysis)) {
    if (!project.datasets.includes(dataset)) {
      return { ok: false, reason: `this TRE does not allow dataset ${dataset} for project ${project.name}` };
    }
    if (!knownDatasets.has(dataset)) return { ok: false, reason: `this TRE has no dataset ${dataset}` };
  }
  if (input.analysis.kind === "container" && !(project.images ?? []).includes(input.analysis.image)) {
    return {
      ok: false,
      reason: `this TRE does not allow image ${input.analysis.image} for project ${project.name}`,
    };
  }
  return { ok: true, project };
}
