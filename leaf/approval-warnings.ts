/**
 * What a TRE operator should hear when leaf.yaml lets nothing run or nobody release: an onboarding bundle's template
 * starts with every list empty, and a leaf started from it links and reports ready while it rejects every task.
 * Warnings, not errors: a TRE may link first and approve later. (A project naming a researcher or dataset the file
 * does not list is refused when the file is read.)
 */
import type { LeafConfig } from "./leaf-config.js";

export function approvalWarnings(
  config: Pick<LeafConfig, "projects" | "datasets" | "reviewers" | "review">,
): string[] {
  const warnings: string[] = [];
  if (config.datasets.length === 0)
    warnings.push("leaf.yaml registers no dataset (datasets: []): every analysis will be rejected");
  if (config.projects.length === 0)
    warnings.push(
      "leaf.yaml approves no project (projects: []): every task will be rejected; add the projects, their researchers and datasets this TRE approves",
    );
  if (config.reviewers.length === 0 && !config.review.autoRelease)
    warnings.push(
      "leaf.yaml names no reviewer (reviewers: []) and auto-release is off: outputs will wait in the airlock with nobody to release them",
    );
  return warnings;
}
