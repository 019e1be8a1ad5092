import { describe, expect, it } from "vitest";
import type { DisclosureFacts } from "../executors/index.js";
import {
  type AnalysisOutput,
  analysisOutput,
  type CountOutput,
  type CrosstabOutput,
  decodeOutput,
  encodeOutput,
  type HistogramOutput,
  type RegressionOutput,
  type SummaryOutput,
} from "../protocol/index.js";
import { checkOutput } from "./disclosure-checks.js";
import { DEFAULT_DISCLOSURE_RULES, type DisclosureRules } from "./disclosure-rules.js";

const d = { dataset: "patients" } as const;
const rules = (over: Partial<DisclosureRules> = {}): DisclosureRules => ({
  ...DEFAULT_DISCLOSURE_RULES,
  dominance: { ...DEFAULT_DISCLOSURE_RULES.dominance },
  ...over,
});

function countOutput(ns: number[]): CountOutput {
  return {
    kind: "count",
    ...d,
    analysis: { kind: "count", ...d, groupBy: ["region"] },
    groupBy: ["region"],
    cells: ns.map((n, i) => ({ key: [`r${i}`], n })),
  };
}

function histogramOutput(counts: number[], below: number, above: number, missing: number): HistogramOutput {
  const bins = { min: 0, max: 100, count: counts.length };
  return {
    kind: "histogram",
    ...d,
    analysis: { kind: "histogram", ...d, column: "age", bins },
    column: "age",
    bins,
    counts,
    below,
    above,
    missing,
  };
}

function crosstabOutput(cells: (number | null)[][]): CrosstabOutput {
  return {
    kind: "crosstab",
    ...d,
    analysis: { kind: "crosstab", ...d, rows: "sex", cols: "smoker" },
    rows: "sex",
    cols: "smoker",
    rowKeys: cells.map((_, r) => `s${r}`),
    colKeys: (cells[0] ?? []).map((_, c) => c),
    cells,
  };
}

/** Summary cells by n; mean and variance follow the protocol's null rules. */
function summaryOutput(ns: number[]): SummaryOutput {
  return {
    kind: "summary",
    ...d,
    analysis: { kind: "summary", ...d, column: "income", groupBy: ["region"] },
    column: "income",
    groupBy: ["region"],
    cells: ns.map((n, i) => ({
      key: [`r${i}`],
      n,
      mean: n === 0 ? null : 100,
      variance: n < 2 ? null : 25,
    })),
  };
}

function regressionOutput(n: number, predictors: string[]): RegressionOutput {
  const p = predictors.length + 1;
  const xtx = Array.from({ length: p }, (_, i) =>
    Array.from({ length: p }, (_, j) => (i === 0 && j === 0 ? n : 1)),
  );
  return {
    kind: "regression",
    ...d,
    analysis: { kind: "regression", ...d, outcome: "sbp", predictors },
    outcome: "sbp",
    predictors,
    intercept: true,
    terms: ["(intercept)", ...predictors],
    n,
    dropped: 4,
    xtx,
    xty: new Array<number>(p).fill(2),
    yty: 9,
  };
}

/** The releasable form, checked to survive the same encode/decode a release goes through. */
function releasable(output: AnalysisOutput): AnalysisOutput {
  return decodeOutput(encodeOutput(output));
}

describe("minimum cell count and zeros", () => {
  it("fails small and zero cells and withholds them with a bound that holds the truth", () => {
    const truth = [3, 0, 12, 25, 10];
    const report = checkOutput(countOutput(truth), rules());
    expect(report.outcome).toBe("fail");
    expect(report.findings).toEqual([
      {
        at: "cells[0]",
        rule: "min_cell",
        outcome: "fail",
        detail: "n = 3 is below the minimum cell count 10",
      },
      {
        at: "cells[1]",
        rule: "zero",
        outcome: "fail",
        detail: "n = 0: a zero shows that no one falls in this cell",
      },
    ]);
    const out = releasable(report.releasable!) as CountOutput;
    expect(out.cells.map((c) => c.n)).toEqual([null, null, 10, 25, 10]);
    expect(out.suppressed).toEqual([
      { at: "cells[0]", rule: "min_cell", atMost: 9 },
      { at: "cells[1]", rule: "zero", atMost: 9 },
    ]);
    expect(out.rounding).toBe(5);
    for (const s of out.suppressed ?? []) {
      const i = Number(/\d+/.exec(s.at)?.[0]);
      expect(truth[i]).toBeLessThanOrEqual(s.atMost!);
    }
    expect(report.rules).toEqual(rules());
  });

  it("lets zeros pass when the TRE does not count them disclosive, though they are below the minimum", () => {
    const report = checkOutput(countOutput([0, 4, 20]), rules({ zerosDisclosive: false }));
    expect(report.findings.map((f) => [f.at, f.rule])).toEqual([["cells[1]", "min_cell"]]);
    expect((report.releasable as CountOutput).cells.map((c) => c.n)).toEqual([0, null, 20]);
  });

  it("checks every bin and tail of a histogram; a zero tail is structural and passes", () => {
    const report = checkOutput(histogramOutput([5, 0, 17, 40], 0, 2, 11), rules());
    expect(report.findings.map((f) => [f.at, f.rule, f.detail])).toEqual([
      ["counts[0]", "min_cell", "count = 5 is below the minimum cell count 10"],
      ["counts[1]", "zero", "count = 0: a zero shows that no one falls in this cell"],
      ["above", "min_cell", "count = 2 is below the minimum cell count 10"],
    ]);
    const out = releasable(report.releasable!) as HistogramOutput;
    expect([out.counts, out.below, out.above, out.missing, out.rounding]).toEqual([
      [null, null, 15, 40],
      0,
      null,
      10,
      5,
    ]);
    expect(out.suppressed?.map((s) => s.at)).toEqual(["counts[0]", "counts[1]", "above"]);
  });

  it("suppresses crosstab cells and keeps entries the output already had", () => {
    const input = analysisOutput(
      {
        ...crosstabOutput([
          [10, 4, 0],
          [9, 26, null],
        ]),
        suppressed: [{ at: "cells[1][2]", rule: "reviewer", atMost: 2 }],
      },
      "",
    );
    const report = checkOutput(input, rules());
    expect(report.findings.map((f) => f.at)).toEqual(["cells[0][1]", "cells[0][2]", "cells[1][0]"]);
    const out = releasable(report.releasable!) as CrosstabOutput;
    expect(out.cells).toEqual([
      [10, null, null],
      [null, 25, null],
    ]);
    expect(out.suppressed).toEqual([
      { at: "cells[1][2]", rule: "reviewer", atMost: 2 },
      { at: "cells[0][1]", rule: "min_cell", atMost: 9 },
      { at: "cells[0][2]", rule: "zero", atMost: 9 },
      { at: "cells[1][0]", rule: "min_cell", atMost: 9 },
    ]);
  });

  it("never states a bound of 0 for a withheld zero", () => {
    const report = checkOutput(countOutput([0, 30]), rules({ minCellCount: 1 }));
    expect((report.releasable as CountOutput).suppressed).toEqual([{ at: "cells[0]", rule: "zero" }]);
  });
});

describe("rounding in the releasable form", () => {
  const lenient = { minCellCount: 1, zerosDisclosive: false };

  it.each([2, 3, 5, 10, 7, 1000])("rounds every count to a multiple of %i within ±floor(base/2)", (base) => {
    const truth = Array.from({ length: 120 }, (_, i) => i * 3 + (i % 7));
    const report = checkOutput(countOutput(truth), rules({ ...lenient, roundingBase: base }));
    expect(report.outcome).toBe("pass");
    const out = releasable(report.releasable!) as CountOutput;
    expect(out.rounding).toBe(base);
    out.cells.forEach((c, i) => {
      const t = truth[i]!;
      expect(c.n! % base, `cell ${i}`).toBe(0);
      expect(Math.abs(c.n! - t), `cell ${i}`).toBeLessThanOrEqual(Math.floor(base / 2));
    });
  });

  it("rounds ties away from zero", () => {
    const report = checkOutput(countOutput([5, 15, 14, 4, 0]), rules({ ...lenient, roundingBase: 10 }));
    expect((report.releasable as CountOutput).cells.map((c) => c.n)).toEqual([10, 20, 10, 0, 0]);
  });

  it("passes a safe table as its rounded form, and as itself when rounding is off", () => {
    const input = crosstabOutput([
      [12, 33],
      [10, 48],
    ]);
    const report = checkOutput(input, rules());
    expect(report).toMatchObject({ outcome: "pass", findings: [] });
    expect((report.releasable as CrosstabOutput).cells).toEqual([
      [10, 35],
      [10, 50],
    ]);
    expect(checkOutput(input, rules({ roundingBase: 1 })).releasable).toEqual(input);
    expect(input.cells[0]).toEqual([12, 33]);
  });

  it("never rounds a summary's n", () => {
    const input = summaryOutput([12, 33]);
    const facts: DisclosureFacts = {
      dominance: [
        { at: "cells[0]", total: 1200, top: [150, 140] },
        { at: "cells[1]", total: 3300, top: [200, 100] },
      ],
    };
    const report = checkOutput(input, rules(), facts);
    expect(report.outcome).toBe("pass");
    expect(report.releasable).toEqual(input);
  });
});

describe("dominance", () => {
  const fact = (at: string, total: number, top: number[]) => ({ at, total, top });

  it("fails a summary cell whose two largest values make up more than 90% of its total", () => {
    const report = checkOutput(summaryOutput([40, 25]), rules(), {
      dominance: [fact("cells[0]", 1000, [600, 301, 10]), fact("cells[1]", 1000, [600, 300, 50])],
    });
    expect(report.outcome).toBe("fail");
    expect(report.findings).toEqual([
      {
        at: "cells[0]",
        rule: "dominance",
        outcome: "fail",
        detail:
          "the 2 largest contribution(s) make up more than 90% of the cell total (dominance rule n = 2, k = 0.9)",
      },
    ]);
    const out = releasable(report.releasable!) as SummaryOutput;
    expect(out.cells[0]).toEqual({ key: ["r0"], n: null, mean: null, variance: null });
    expect(out.cells[1]).toEqual({ key: ["r1"], n: 25, mean: 100, variance: 25 });
    expect(out.suppressed).toEqual([{ at: "cells[0]", rule: "dominance" }]);
    expect(report.findings[0]?.detail).not.toMatch(/600|301|1000/);
  });

  it("follows the TRE's n and k", () => {
    const facts = { dominance: [fact("cells[0]", 1000, [510, 100])] };
    expect(checkOutput(summaryOutput([40]), rules(), facts).outcome).toBe("pass");
    const strict = rules({ dominance: { n: 1, k: 0.5 } });
    expect(checkOutput(summaryOutput([40]), strict, facts).findings.map((f) => f.rule)).toEqual([
      "dominance",
    ]);
  });

  it("passes a cell whose total is 0, and cells with no values at all", () => {
    const report = checkOutput(summaryOutput([12, 0]), rules({ zerosDisclosive: false }), {
      dominance: [fact("cells[0]", 0, [0, 0, 0, 0, 0]), fact("cells[1]", 0, [])],
    });
    expect(report).toMatchObject({ outcome: "pass", findings: [] });
  });

  it("keeps the count rule's entry for a small cell that is also dominated", () => {
    const report = checkOutput(summaryOutput([3, 40]), rules(), {
      dominance: [fact("cells[0]", 30, [20, 8, 2]), fact("cells[1]", 4000, [150, 140])],
    });
    expect(report.findings.map((f) => [f.at, f.rule])).toEqual([
      ["cells[0]", "min_cell"],
      ["cells[0]", "dominance"],
    ]);
    expect((report.releasable as SummaryOutput).suppressed).toEqual([
      { at: "cells[0]", rule: "min_cell", atMost: 9 },
    ]);
  });

  it("asks for review when the executor gave no dominance facts", () => {
    const input = summaryOutput([40, 25]);
    const report = checkOutput(input, rules());
    expect(report.outcome).toBe("review");
    expect(report.findings).toEqual([
      {
        at: "",
        rule: "unchecked",
        outcome: "review",
        detail: "dominance could not be checked: no dominance facts came with this summary",
      },
    ]);
    expect(report.releasable).toEqual(input);
    const partial = checkOutput(input, rules(), { dominance: [fact("cells[1]", 2500, [100, 100])] });
    expect(partial.findings.map((f) => [f.at, f.rule, f.outcome])).toEqual([
      ["cells[0]", "unchecked", "review"],
    ]);
  });

  it("does not ask for review when every cell is withheld anyway", () => {
    const report = checkOutput(summaryOutput([3, 0]), rules());
    expect(report.findings.map((f) => f.rule)).toEqual(["min_cell", "zero"]);
    expect((report.releasable as SummaryOutput).cells.map((c) => [c.n, c.mean, c.variance])).toEqual([
      [null, null, null],
      [null, null, null],
    ]);
  });
});

describe("regression", () => {
  it("fails too few rows and too few residual degrees of freedom, and offers nothing to release", () => {
    const report = checkOutput(regressionOutput(3, ["age"]), rules());
    expect(report.outcome).toBe("fail");
    expect(report.findings).toEqual([
      { at: "n", rule: "min_cell", outcome: "fail", detail: "n = 3 is below the minimum cell count 10" },
      {
        at: "",
        rule: "residual_df",
        outcome: "fail",
        detail: "residual degrees of freedom n − terms = 3 − 2 = 1 is below the minimum 10",
      },
    ]);
    expect(report.releasable).toBeUndefined();
    expect("releasable" in report).toBe(false);
  });

  it("fails on residual df alone, and passes exactly at the minimum, unchanged", () => {
    const short = checkOutput(regressionOutput(13, ["age", "bmi", "smoker"]), rules());
    expect(short.findings.map((f) => [f.at, f.rule])).toEqual([["", "residual_df"]]);
    expect(short.releasable).toBeUndefined();
    const enough = regressionOutput(14, ["age", "bmi", "smoker"]);
    const report = checkOutput(enough, rules());
    expect(report).toMatchObject({ outcome: "pass", findings: [] });
    expect(report.releasable).toEqual(enough);
  });

  it("fails a regression over no rows as a zero", () => {
    const report = checkOutput(regressionOutput(0, ["age"]), rules({ minResidualDf: 0 }));
    expect(report.findings.map((f) => [f.at, f.rule])).toEqual([
      ["n", "zero"],
      ["", "residual_df"],
    ]);
  });
});
