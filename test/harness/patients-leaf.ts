/**
 * The leaf.yaml content most federation tests give each TRE: the synthetic patients in `./patients-<tre>.csv` as
 * dataset `patients`, one project approving them, and disclosure control off (no rounding, no suppression) so
 * that combined figures can be compared exactly with the statistic on the union of the TREs' rows.
 */
import { SYNTHETIC_PATIENT_COLUMNS } from "../../fixtures/index.js";

export function exactPatientsLeaf(
  tre: string,
  {
    project,
    researchers = ["alice"],
    analyses = ["count"],
    autoRelease = false,
  }: {
    project: string;
    researchers?: readonly string[];
    analyses?: readonly string[];
    autoRelease?: boolean;
  },
): Record<string, unknown> {
  return {
    datasets: [
      {
        name: "patients",
        engine: "csv",
        path: `./patients-${tre}.csv`,
        columns: { ...SYNTHETIC_PATIENT_COLUMNS },
        identifiers: ["patient_id"],
      },
    ],
    projects: [
      { name: project, researchers: [...researchers], analyses: [...analyses], datasets: ["patients"] },
    ],
    disclosure: { roundingBase: 1, minCellCount: 1, zerosDisclosive: false },
    ...(autoRelease ? { review: { autoRelease: true } } : {}),
  };
}
