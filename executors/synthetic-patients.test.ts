import { describe, expect, it } from "vitest";
import { generatePatients, patientProfiles } from "./synthetic-patients.js";

describe("synthetic patients", () => {
  it("are the same for the same seed and profile, and differ for another seed", () => {
    const a = generatePatients(patientProfiles.south, 7);
    expect(generatePatients(patientProfiles.south, 7)).toEqual(a);
    expect(generatePatients(patientProfiles.south, 8)).not.toEqual(a);
  });

  it("follow each profile's size, regions and age", () => {
    for (const [name, profile] of Object.entries(patientProfiles)) {
      const rows = generatePatients(profile, 1, name);
      expect(rows).toHaveLength(profile.rows);
      expect(new Set(rows.map((r) => r.region))).toEqual(new Set(Object.keys(profile.regions)));
      expect(new Set(rows.map((r) => r.patient_id)).size).toBe(rows.length);
      const meanAge = rows.reduce((s, r) => s + r.age, 0) / rows.length;
      expect(Math.abs(meanAge - profile.ageMean)).toBeLessThan(3);
      for (const r of rows) {
        expect(r.age).toBeGreaterThanOrEqual(18);
        expect(r.age).toBeLessThanOrEqual(95);
        expect(Number.isInteger(r.age)).toBe(true);
      }
    }
  });

  it("leave some values null in every nullable column, and none in the others", () => {
    const rows = generatePatients(patientProfiles.north, 3);
    for (const column of ["bmi", "systolic_bp", "cholesterol", "smoker"] as const) {
      expect(rows.some((r) => r[column] === null)).toBe(true);
      expect(rows.some((r) => r[column] !== null)).toBe(true);
    }
    for (const column of ["patient_id", "age", "sex", "region", "postcode", "diabetes"] as const) {
      expect(rows.every((r) => r[column] !== null)).toBe(true);
    }
  });
});
