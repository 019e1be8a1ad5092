/**
 * Seeded synthetic patients: the same seed and profile give the same rows on every machine, so tests
 * can compute expected statistics from the rows they loaded, and the demo's TREs hold believable,
 * different data. Nothing here is real; the relationships (blood pressure rising with age and BMI,
 * diabetes with both) exist so regressions and crosstabs have something to find.
 *
 * A few values are null on purpose (bmi, systolic_bp, cholesterol, smoker), so null handling is
 * always exercised. `postcode` is present in every table but on no allow-list: a quasi-identifier
 * that every analysis must be refused.
 *
 * @example
 * const rows = generatePatients(patientProfiles.north, 42);
 * await writePatientsDuckDb(rows, "/data/north.duckdb");
 */
import type { ColumnType } from "./query/dataset.js";

export interface PatientRow {
  patient_id: string;
  age: number;
  sex: "F" | "M";
  region: string;
  postcode: string;
  bmi: number | null;
  systolic_bp: number | null;
  cholesterol: number | null;
  smoker: boolean | null;
  diabetes: boolean;
}

/** How one TRE's population looks. */
export interface PatientProfile {
  /** Rows to generate. */
  rows: number;
  /** Mean and standard deviation of age in years (clamped to 18–95). */
  ageMean: number;
  ageSd: number;
  /** Regions with relative weights. */
  regions: Readonly<Record<string, number>>;
  /** Share of women, 0–1. */
  femaleShare: number;
  /** Share of smokers, 0–1. */
  smokerRate: number;
  /** Diabetes prevalence at age 50 and BMI 27, 0–1. */
  diabetesRate: number;
  /** Share of nulls in bmi, systolic_bp and cholesterol (half that in smoker), 0–1. */
  missingRate: number;
}

/** Three TREs that differ in size, age, regions and prevalence. */
export const patientProfiles = {
  north: {
    rows: 4000,
    ageMean: 52,
    ageSd: 16,
    regions: { highlands: 2, lowlands: 5, islands: 1 },
    femaleShare: 0.52,
    smokerRate: 0.22,
    diabetesRate: 0.09,
    missingRate: 0.03,
  },
  south: {
    rows: 2500,
    ageMean: 44,
    ageSd: 14,
    regions: { coast: 3, downs: 2, city: 6 },
    femaleShare: 0.49,
    smokerRate: 0.15,
    diabetesRate: 0.07,
    missingRate: 0.05,
  },
  small: {
    rows: 300,
    ageMean: 61,
    ageSd: 12,
    regions: { valley: 1, city: 1 },
    femaleShare: 0.55,
    smokerRate: 0.3,
    diabetesRate: 0.14,
    missingRate: 0.08,
  },
} as const satisfies Record<string, PatientProfile>;

/** The columns an allow-list for these tables names, with their types. */
export const SYNTHETIC_PATIENT_COLUMNS: Readonly<Record<string, ColumnType>> = {
  age: "numeric",
  sex: "categorical",
  region: "categorical",
  bmi: "numeric",
  systolic_bp: "numeric",
  cholesterol: "numeric",
  smoker: "boolean",
  diabetes: "boolean",
};
/** The direct identifier, never selectable. */
export const SYNTHETIC_PATIENT_IDENTIFIERS: readonly string[] = ["patient_id"];

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Generates `profile.rows` patients from `seed`; ids are `<idPrefix>000001`, `<idPrefix>000002`, … */
export function generatePatients(profile: PatientProfile, seed: number, idPrefix = "P"): PatientRow[] {
  const random = mulberry32(seed);
  const normal = (mean: number, sd: number) => {
    // Box–Muller; 1 − u keeps log's argument above 0.
    const u = 1 - random();
    const v = random();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const missing = (rate: number) => random() < rate;
  const regions = Object.entries(profile.regions);
  const totalWeight = regions.reduce((s, [, w]) => s + w, 0);
  const pickRegion = () => {
    let r = random() * totalWeight;
    for (const [name, w] of regions) {
      r -= w;
      if (r < 0) return name;
    }
    return regions.at(-1)?.[0] ?? "unknown";
  };
  const rows: PatientRow[] = [];
  for (let i = 0; i < profile.rows; i++) {
    const age = clamp(Math.round(normal(profile.ageMean, profile.ageSd)), 18, 95);
    const sex = random() < profile.femaleShare ? "F" : "M";
    const region = pickRegion();
    const bmiValue = round(clamp(normal(27 + (age - 50) * 0.03, 4.5), 15, 55), 1);
    const smokes = random() < profile.smokerRate;
    const sbp = Math.round(
      95 + 0.45 * age + 0.8 * bmiValue + (sex === "M" ? 4 : 0) + (smokes ? 3 : 0) + normal(0, 11),
    );
    const cholesterol = round(clamp(normal(5.2 + 0.01 * (age - 50), 0.9), 2, 10), 2);
    const logit =
      Math.log(profile.diabetesRate / (1 - profile.diabetesRate)) +
      0.04 * (age - 50) +
      0.12 * (bmiValue - 27);
    rows.push({
      patient_id: `${idPrefix}${String(i + 1).padStart(6, "0")}`,
      age,
      sex,
      region,
      postcode: `${region.slice(0, 2).toUpperCase()}${1 + Math.floor(random() * 40)} ${Math.floor(random() * 10)}XY`,
      bmi: missing(profile.missingRate) ? null : bmiValue,
      systolic_bp: missing(profile.missingRate) ? null : sbp,
      cholesterol: missing(profile.missingRate) ? null : cholesterol,
      smoker: missing(profile.missingRate / 2) ? null : smokes,
      diabetes: random() < 1 / (1 + Math.exp(-logit)),
    });
  }
  return rows;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
