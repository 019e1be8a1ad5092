import { describe, expect, it } from "vitest";
import {
  type AnalysisOutput,
  analysisOutput,
  compareKeys,
  decodeOutput,
  encodeOutput,
  type KeyValue,
} from "./outputs.js";
import { FieldError } from "./validate.js";

const count: AnalysisOutput = {
  kind: "count",
  dataset: "patients",
  analysis: { kind: "count", dataset: "patients", groupBy: ["region", "smoker"] },
  groupBy: ["region", "smoker"],
  cells: [
    { key: ["a, b", false], n: 3 },
    { key: ["a, b", null], n: 1 },
    { key: ["c", true], n: 12 },
  ],
};
const summary: AnalysisOutput = {
  kind: "summary",
  dataset: "patients",
  analysis: { kind: "summary", dataset: "patients", column: "bmi" },
  column: "bmi",
  groupBy: [],
  cells: [{ key: [], n: 40, mean: 27.5, variance: 3.25 }],
};
const histogram: AnalysisOutput = {
  kind: "histogram",
  dataset: "patients",
  analysis: { kind: "histogram", dataset: "patients", column: "age", bins: { min: 0, max: 100, count: 4 } },
  column: "age",
  bins: { min: 0, max: 100, count: 4 },
  counts: [5, 0, 7, 1],
  below: 0,
  above: 2,
  missing: 3,
};
const crosstab: AnalysisOutput = {
  kind: "crosstab",
  dataset: "patients",
  analysis: { kind: "crosstab", dataset: "patients", rows: "sex", cols: "smoker" },
  rows: "sex",
  cols: "smoker",
  rowKeys: ["F", "M"],
  colKeys: [false, true, null],
  cells: [
    [10, 4, 0],
    [9, 6, 1],
  ],
};
const regression: AnalysisOutput = {
  kind: "regression",
  dataset: "patients",
  analysis: { kind: "regression", dataset: "patients", outcome: "sbp", predictors: ["age"] },
  outcome: "sbp",
  predictors: ["age"],
  intercept: true,
  terms: ["(intercept)", "age"],
  n: 3,
  dropped: 1,
  xtx: [
    [3, 90],
    [90, 2900],
  ],
  xty: [390, 11800],
  yty: 50900,
};

/** A deep copy with `edit` applied, for one hostile variation at a time. */
function variant(base: AnalysisOutput, edit: (o: Record<string, unknown>) => void): unknown {
  const copy = structuredClone(base) as unknown as Record<string, unknown>;
  edit(copy);
  return copy;
}

function problemAt(value: unknown): string {
  try {
    analysisOutput(value, "");
  } catch (error) {
    if (error instanceof FieldError) return `${error.path}: ${error.problem}`;
    throw error;
  }
  throw new Error("accepted");
}

describe("output descriptions", () => {
  it.each([count, summary, histogram, crosstab, regression])(
    "round-trips a $kind output through JSON bytes",
    (o) => {
      const bytes = encodeOutput(o);
      expect(decodeOutput(bytes)).toEqual(o);
      expect(() => JSON.parse(new TextDecoder().decode(bytes))).not.toThrow();
    },
  );

  it("keeps commas and brackets inside key strings intact", () => {
    const text = new TextDecoder().decode(encodeOutput(count));
    expect(text).toContain('"a, b"');
    expect(decodeOutput(new TextEncoder().encode(text))).toEqual(count);
  });

  it("refuses bytes that are not UTF-8 JSON, and oversize documents", () => {
    expect(() => decodeOutput(new Uint8Array([0xff, 0xfe]))).toThrow(FieldError);
    expect(() => decodeOutput(new TextEncoder().encode("{"))).toThrow(/not UTF-8 JSON/);
    expect(() => decodeOutput(encodeOutput(count), { maxBytes: 10 })).toThrow(/over the 10 limit/);
  });

  it("names the field of a hostile document", () => {
    expect(problemAt(variant(count, (o) => (o.extra = 1)))).toBe(
      "extra: is not a known field (known: kind, dataset, analysis, groupBy, cells, suppressed, rounding)",
    );
    expect(problemAt(variant(count, (o) => (o.kind = "sql")))).toMatch(/^kind: "sql" is not one of/);
    expect(problemAt(variant(count, (o) => ((o.cells as { n: unknown }[])[1]!.n = -1)))).toMatch(
      /^cells\[1\]\.n:/,
    );
    expect(problemAt(variant(count, (o) => ((o.cells as { key: unknown[] }[])[0]!.key = ["x"])))).toBe(
      "cells[0].key: must hold 2 values, one per groupBy column",
    );
    expect(
      problemAt(variant(count, (o) => ((o.cells as { key: unknown[] }[])[2]!.key = ["a, b", false]))),
    ).toBe("cells[2].key: repeats another cell's key");
    expect(problemAt(JSON.parse('{"__proto__": {"x": 1}, "kind": "count"}'))).toBe(
      "__proto__: is not a known field (known: kind, dataset, analysis, groupBy, cells, suppressed, rounding)",
    );
  });

  it("refuses an output that disagrees with the analysis it claims to answer", () => {
    expect(problemAt(variant(count, (o) => (o.dataset = "other")))).toBe(
      "dataset: differs from analysis.dataset",
    );
    expect(problemAt(variant(count, (o) => (o.groupBy = ["smoker", "region"])))).toMatch(
      /^groupBy: differs from the analysis/,
    );
    expect(problemAt(variant(summary, (o) => (o.analysis = { kind: "count", dataset: "patients" })))).toMatch(
      /^analysis\.kind: a count analysis cannot give a summary output/,
    );
    expect(problemAt(variant(histogram, (o) => ((o.bins as { count: number }).count = 5)))).toMatch(
      /^bins: differs/,
    );
  });

  it("refuses statistics that cannot be true", () => {
    expect(
      problemAt(variant(summary, (o) => ((o.cells as { variance: unknown }[])[0]!.variance = null))),
    ).toBe("cells[0].variance: must be null exactly when n is below 2");
    expect(
      problemAt(variant(summary, (o) => ((o.cells as { mean: unknown }[])[0]!.mean = Number.NaN))),
    ).toMatch(/^cells\[0\]\.mean: expected a finite number/);
    expect(problemAt(variant(histogram, (o) => (o.counts = [1, 2, 3])))).toBe(
      "counts: must hold bins.count (4) counts",
    );
    expect(problemAt(variant(crosstab, (o) => ((o.cells as number[][])[1] = [1, 2])))).toBe(
      "cells[1]: must hold one count per colKeys entry",
    );
    expect(problemAt(variant(crosstab, (o) => (o.rowKeys = ["F", "F"])))).toBe(
      "rowKeys: must not repeat a key",
    );
    expect(problemAt(variant(regression, (o) => ((o.xtx as number[][])[0]![1] = 91)))).toBe(
      "xtx[0][1]: breaks symmetry",
    );
    expect(problemAt(variant(regression, (o) => ((o.xtx as number[][])[0]![0] = 4)))).toBe(
      "xtx[0][0]: must equal n when there is an intercept",
    );
    expect(problemAt(variant(regression, (o) => (o.terms = ["age", "(intercept)"])))).toMatch(/^terms:/);
    expect(problemAt(variant(regression, (o) => (o.xty = [1])))).toBe(
      "xty: must hold 2 values, one per term",
    );
  });

  it("accepts a withheld value only when the suppressed list names it, and vice versa", () => {
    const marked = variant(crosstab, (o) => {
      (o.cells as (number | null)[][])[1]![2] = null;
      o.suppressed = [{ at: "cells[1][2]", rule: "min_cell_count", atMost: 9 }];
    });
    expect(analysisOutput(marked, "")).toMatchObject({ suppressed: [{ at: "cells[1][2]" }] });
    expect(problemAt(variant(crosstab, (o) => ((o.cells as (number | null)[][])[0]![0] = null)))).toBe(
      "cells[0][0]: is withheld (null) but not listed in suppressed",
    );
    expect(
      problemAt(variant(histogram, (o) => (o.suppressed = [{ at: "counts[1]", rule: "min_cell_count" }]))),
    ).toBe('suppressed[0].at: "counts[1]" does not name a withheld (null) value');
    const summaryWithheld = variant(summary, (o) => {
      o.cells = [{ key: [], n: null, mean: 27.5, variance: null }];
      o.suppressed = [{ at: "cells[0]", rule: "min_cell_count" }];
    });
    expect(problemAt(summaryWithheld)).toBe("cells[0].mean: must be null (with variance) when n is withheld");
  });

  it("accepts a rounding marker when every count left is a multiple of it, withheld ones aside", () => {
    const rounded = variant(crosstab, (o) => {
      o.cells = [
        [10, 5, null],
        [10, 5, 0],
      ];
      o.suppressed = [{ at: "cells[0][2]", rule: "min_cell", atMost: 9 }];
      o.rounding = 5;
    });
    expect(analysisOutput(rounded, "")).toMatchObject({
      rounding: 5,
      cells: [
        [10, 5, null],
        [10, 5, 0],
      ],
    });
    const histogramRounded = variant(histogram, (o) => {
      o.counts = [10, 0, 20, 1000];
      o.below = 0;
      o.above = 10;
      o.missing = 0;
      o.rounding = 10;
    });
    expect(decodeOutput(encodeOutput(histogramRounded as AnalysisOutput))).toEqual(histogramRounded);
  });

  it("names the count that is not a multiple of the rounding marker", () => {
    const countRounded = (ns: number[], rounding: unknown) =>
      variant(count, (o) => {
        (o.cells as { n: number }[]).forEach((c, i) => {
          c.n = ns[i] ?? 0;
        });
        o.rounding = rounding;
      });
    expect(analysisOutput(countRounded([5, 10, 15], 5), "")).toMatchObject({ rounding: 5 });
    expect(problemAt(countRounded([5, 12, 15], 5))).toBe(
      "cells[1].n: must be a multiple of rounding (5), or null when withheld",
    );
    expect(problemAt(variant(histogram, (o) => (o.rounding = 5)))).toBe(
      "counts[2]: must be a multiple of rounding (5), or null when withheld",
    );
    expect(
      problemAt(
        variant(histogram, (o) => {
          o.counts = [5, 0, 5, 5];
          o.rounding = 5;
        }),
      ),
    ).toBe("above: must be a multiple of rounding (5), or null when withheld");
    expect(problemAt(variant(crosstab, (o) => (o.rounding = 2)))).toBe(
      "cells[1][0]: must be a multiple of rounding (2), or null when withheld",
    );
    expect(problemAt(countRounded([5, 10, 15], 1))).toBe("rounding: must be between 2 and 1000");
    expect(problemAt(countRounded([5, 10, 15], 2.5))).toMatch(/^rounding: expected an integer/);
    expect(problemAt(variant(summary, (o) => (o.rounding = 5)))).toBe(
      "rounding: is not a known field (known: kind, dataset, analysis, column, groupBy, cells, suppressed)",
    );
    expect(problemAt(variant(regression, (o) => (o.rounding = 5)))).toBe(
      "rounding: is not a known field (known: kind, dataset, analysis, outcome, predictors, intercept, terms, n, dropped, xtx, xty, yty)",
    );
  });
});

describe("compareKeys", () => {
  it("orders booleans, then numbers, then strings by code unit, with null last", () => {
    const keys: KeyValue[][] = [["b"], [null], [10], ["B"], [true], [2], [false], ["a"]];
    expect(keys.sort(compareKeys)).toEqual([[false], [true], [2], [10], ["B"], ["a"], ["b"], [null]]);
  });

  it("compares position by position", () => {
    expect(compareKeys(["a", 2], ["a", 10])).toBeLessThan(0);
    expect(compareKeys(["b", 1], ["a", 10])).toBeGreaterThan(0);
    expect(compareKeys([], [])).toBe(0);
  });
});
