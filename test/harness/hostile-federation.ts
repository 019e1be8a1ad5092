/**
 * The federation the hostile-input suite (test/hostile-input.test.ts) and the deep fuzz run (bench/fuzz.ts) attack:
 * TREs a and b, reviewer rita at each, a project `study` that alice may run counts and summaries in, exact answers
 * (no rounding, no small-cell suppression) so a last legitimate task can be held to the truth, a releasing by
 * itself and b waiting for its reviewer. Every error event of the hub, a leaf or an agent goes into `errors`: a
 * service's own failure is a crash of whatever hostile input came before it.
 */
import { SYNTHETIC_PATIENT_COLUMNS } from "../../fixtures/index.js";
import type { FederationOptions } from "./federation.js";

const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };

/**
 * The options for `startFederation`. Leaves are started by the caller once it has written their data files
 * (`patients-a.duckdb`, `patients-b.csv` in the federation's folder).
 */
export function hostileFederationOptions(
  researchers: readonly string[],
  errors: string[],
): FederationOptions {
  return {
    tres: ["a", "b"],
    researchers,
    reviewers: ["rita"],
    startLeaves: [],
    heartbeatIntervalMs: 1_000,
    leafExtra: (tre) => ({
      datasets: [
        tre === "a"
          ? { name: "patients", engine: "duckdb", path: "./patients-a.duckdb", table: "patients", ...allow }
          : { name: "patients", engine: "csv", path: "./patients-b.csv", ...allow },
      ],
      // Other researchers are known to both TREs but approved by neither; alice may run counts and summaries only.
      projects: [
        { name: "study", researchers: ["alice"], analyses: ["count", "summary"], datasets: ["patients"] },
      ],
      // Exact answers (no rounding, no small-cell suppression), so the liveness check can demand the truth.
      disclosure: { roundingBase: 1, minCellCount: 1, zerosDisclosive: false },
      // a releases by itself; b waits for its reviewer, so b always has an output pending review.
      review: { autoRelease: tre === "a" },
    }),
    onHubEvent: (e) => {
      if (e.event.type === "error") errors.push(`hub ${e.service}: ${String(e.event.error)}`);
    },
    onLeafEvent: (tre, e) => {
      if (e.type === "error") errors.push(`leaf ${tre}: ${String(e.error)}`);
      if (e.type === "agent" && e.event.type === "error")
        errors.push(`agent ${tre}: ${String(e.event.error)}`);
    },
  };
}
