import { describe, expect, it } from "vitest";
import { FieldError } from "../protocol/index.js";
import { DEFAULT_DISCLOSURE_RULES, disclosureRules } from "./disclosure-rules.js";

/** The refusal's "path: problem" text, or a failure if the section was accepted. */
function refusal(value: unknown): string {
  try {
    disclosureRules(value, "disclosure");
  } catch (error) {
    if (error instanceof FieldError) return `${error.path}: ${error.problem}`;
    throw error;
  }
  throw new Error("accepted");
}

describe("disclosure rules", () => {
  it("defaults to minimum cell 10, rounding 5, dominance (2, 0.9), residual df 10, zeros disclosive", () => {
    const expected = {
      minCellCount: 10,
      roundingBase: 5,
      dominance: { n: 2, k: 0.9 },
      minResidualDf: 10,
      zerosDisclosive: true,
    };
    expect(DEFAULT_DISCLOSURE_RULES).toEqual(expected);
    expect(disclosureRules(undefined, "disclosure")).toEqual(expected);
    expect(disclosureRules({}, "disclosure")).toEqual(expected);
  });

  it("fills in whatever a TRE leaves out, inside dominance too", () => {
    expect(
      disclosureRules(
        { minCellCount: 5, roundingBase: 1, dominance: { k: 0.75 }, zerosDisclosive: false },
        "disclosure",
      ),
    ).toEqual({
      minCellCount: 5,
      roundingBase: 1,
      dominance: { n: 2, k: 0.75 },
      minResidualDf: 10,
      zerosDisclosive: false,
    });
    expect(disclosureRules({ dominance: { n: 5, k: 1 }, minResidualDf: 0 }, "")).toMatchObject({
      dominance: { n: 5, k: 1 },
      minResidualDf: 0,
    });
  });

  it("hands out a fresh value, so changing one leaf's rules never changes the defaults", () => {
    const rules = disclosureRules(undefined, "disclosure");
    rules.dominance.n = 5;
    rules.minCellCount = 3;
    expect(DEFAULT_DISCLOSURE_RULES.dominance.n).toBe(2);
    expect(DEFAULT_DISCLOSURE_RULES.minCellCount).toBe(10);
  });

  it.each([
    [{ minCellCount: "10" }, 'disclosure.minCellCount: expected an integer, got "10"'],
    [{ minCellCount: 0 }, "disclosure.minCellCount: must be between 1 and 1000000"],
    [{ roundingBase: 0 }, "disclosure.roundingBase: must be between 1 and 1000"],
    [{ roundingBase: 2.5 }, "disclosure.roundingBase: expected an integer, got number 2.5"],
    [{ dominance: { n: 6 } }, "disclosure.dominance.n: must be between 1 and 5"],
    [{ dominance: { k: 0 } }, "disclosure.dominance.k: must be a fraction above 0 and at most 1"],
    [{ dominance: { k: 1.5 } }, "disclosure.dominance.k: must be a fraction above 0 and at most 1"],
    [{ dominance: { k: "0.9" } }, 'disclosure.dominance.k: expected a finite number, got "0.9"'],
    [{ dominance: { n: 2, k: 0.9, m: 1 } }, "disclosure.dominance.m: is not a known field (known: n, k)"],
    [{ dominance: [2, 0.9] }, "disclosure.dominance: expected an object, got an array of 2"],
    [{ minResidualDf: -1 }, "disclosure.minResidualDf: must be between 0 and 1000000"],
    [{ zerosDisclosive: "yes" }, 'disclosure.zerosDisclosive: expected true or false, got "yes"'],
    [
      { minCellCout: 10 },
      "disclosure.minCellCout: is not a known field (known: minCellCount, roundingBase, dominance, minResidualDf, zerosDisclosive)",
    ],
    [[], "disclosure: expected an object, got an array of 0"],
    [null, "disclosure: expected an object, got null"],
  ])("refuses %j, naming the field", (value, message) => {
    expect(refusal(value)).toBe(message);
  });
});
