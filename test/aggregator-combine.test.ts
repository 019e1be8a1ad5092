/**
 * The aggregator's combinations equal the statistic computed over all TREs' rows together: three
 * TREs with different synthetic populations, each TRE's output from the reference statistics, combined,
 * and compared with the reference over the union of the rows. Withheld and rounded counts become
 * intervals that contain the truth.
 */
import { describe, expect, it } from "vitest";
import {
  type CombinedResult,
  CombineError,
  CombineErrorCode,
  combineOutputs,
  type Interval,
  type TreOutput,
} from "../aggregator/index.js";
import type { QuerySpec } from "../executors/index.js";
import { generatePatients, type PatientRow, patientProfiles } from "../fixtures/index.js";
import {
  type AnalysisOutput,
  analysisOutput,
  type CountOutput,
  type CrosstabOutput,
  type HistogramOutput,
  type RegressionOutput,
  type SummaryOutput,
} from "../protocol/index.js";
import { expectSameStatistics, keeps, referenceOutput } from "./harness/reference-stats.js";

const sites = [
  { tre: "north", rows: generatePatients(patientProfiles.north, 101, "N") },
  { tre: "south", rows: generatePatients(patientProfiles.south, 202, "S") },
  { tre: "small", rows: generatePatients(patientProfiles.small, 303, "M") },
];
const union = sites.flatMap((s) => s.rows);

function perTre<O extends AnalysisOutput>(spec: QuerySpec): TreOutput<O>[] {
  return sites.map((s) => ({ tre: s.tre, output: referenceOutput(spec, s.rows) as O }));
}
function combined<R extends CombinedResult["kind"]>(
  spec: QuerySpec & { kind: R },
  parts: TreOutput[] = perTre(spec),
): Extract<CombinedResult, { kind: R }> {
  const result = combineOutputs(parts);
  expect(result.kind).toBe(spec.kind);
  return result as Extract<CombinedResult, { kind: R }>;
}
const exact = (i: Interval | undefined) => {
  expect(i?.low, "an exact count").toBe(i?.high);
  return i?.low;
};
const contains = (i: Interval | undefined, truth: number, what: string) => {
  expect(i, what).toBeDefined();
  expect(i?.low, `${what}: low ${i?.low} ≤ ${truth}`).toBeLessThanOrEqual(truth);
  expect(i?.high, `${what}: high ${i?.high} ≥ ${truth}`).toBeGreaterThanOrEqual(truth);
};

const countSpec: QuerySpec = {
  kind: "count",
  dataset: "patients",
  filters: [{ column: "age", op: "ge", value: 40 }],
  groupBy: ["region", "sex"],
};
const crosstabSpec: QuerySpec = { kind: "crosstab", dataset: "patients", rows: "region", cols: "smoker" };
const summarySpec: QuerySpec = {
  kind: "summary",
  dataset: "patients",
  column: "systolic_bp",
  groupBy: ["region", "smoker"],
};
const histogramSpec: QuerySpec = {
  kind: "histogram",
  dataset: "patients",
  column: "age",
  bins: { min: 20, max: 90, count: 14 },
};
const regressionSpec: QuerySpec = {
  kind: "regression",
  dataset: "patients",
  outcome: "systolic_bp",
  predictors: ["age", "bmi", "smoker"],
};

/** OLS computed straight from rows, centred, by Gauss–Jordan elimination: a method the aggregator does not use. */
function olsFromRows(spec: Extract<QuerySpec, { kind: "regression" }>, all: PatientRow[]) {
  const num = (v: unknown) => (v === null ? null : typeof v === "boolean" ? Number(v) : (v as number));
  const rows = all
    .filter((r) => (spec.filters ?? []).every((f) => keeps(r, f)))
    .map((r) => [spec.outcome, ...spec.predictors].map((c) => num(r[c as keyof PatientRow])))
    .filter((vs): vs is number[] => vs.every((v) => v !== null));
  const n = rows.length;
  const k = spec.predictors.length;
  const mean = (j: number) => rows.reduce((s, r) => s + (r[j] ?? 0), 0) / n;
  const means = Array.from({ length: k + 1 }, (_, j) => mean(j)); // [ȳ, x̄₁…]
  // Centred cross-products [X_c'X_c | X_c'y_c | I] reduced to [I | β | (X_c'X_c)⁻¹].
  const aug = Array.from({ length: k }, (_, i) => [
    ...Array.from({ length: k }, (_, j) =>
      rows.reduce(
        (s, r) => s + ((r[i + 1] ?? 0) - (means[i + 1] ?? 0)) * ((r[j + 1] ?? 0) - (means[j + 1] ?? 0)),
        0,
      ),
    ),
    rows.reduce((s, r) => s + ((r[i + 1] ?? 0) - (means[i + 1] ?? 0)) * ((r[0] ?? 0) - (means[0] ?? 0)), 0),
    ...Array.from({ length: k }, (_, j) => (i === j ? 1 : 0)),
  ]);
  for (let c = 0; c < k; c++) {
    const pivot = aug.reduce(
      (best, row, r) => (r >= c && Math.abs(row[c] ?? 0) > Math.abs(aug[best]?.[c] ?? 0) ? r : best),
      c,
    );
    [aug[c], aug[pivot]] = [aug[pivot] as number[], aug[c] as number[]];
    const pr = aug[c] as number[];
    const d = pr[c] ?? 1;
    for (let j = 0; j < pr.length; j++) pr[j] = (pr[j] ?? 0) / d;
    for (let r = 0; r < k; r++) {
      if (r === c) continue;
      const row = aug[r] as number[];
      const f = row[c] ?? 0;
      for (let j = 0; j < row.length; j++) row[j] = (row[j] ?? 0) - f * (pr[j] ?? 0);
    }
  }
  const slopes = aug.map((row) => row[k] ?? 0);
  const inv = aug.map((row) => row.slice(k + 1));
  const xbar = means.slice(1);
  const intercept = (means[0] ?? 0) - slopes.reduce((s, b, j) => s + b * (xbar[j] ?? 0), 0);
  const rss = rows.reduce((s, r) => {
    const fitted = intercept + slopes.reduce((t, b, j) => t + b * (r[j + 1] ?? 0), 0);
    return s + ((r[0] ?? 0) - fitted) ** 2;
  }, 0);
  const sigma2 = rss / (n - k - 1);
  // Var(intercept) = σ²(1/n + x̄'(X_c'X_c)⁻¹x̄); Var(slope j) = σ²[(X_c'X_c)⁻¹]ⱼⱼ.
  const quad = xbar.reduce(
    (s, xi, i) => s + xi * xbar.reduce((t, xj, j) => t + (inv[i]?.[j] ?? 0) * xj, 0),
    0,
  );
  return {
    n,
    estimates: [intercept, ...slopes],
    se: [Math.sqrt(sigma2 * (1 / n + quad)), ...slopes.map((_, j) => Math.sqrt(sigma2 * (inv[j]?.[j] ?? 0)))],
    rss,
  };
}

const close = (actual: number | null | undefined, expected: number, what: string) => {
  expect(actual, what).not.toBeNull();
  const scale = Math.max(1e-300, Math.abs(expected));
  expect(
    Math.abs((actual ?? Number.NaN) - expected) / scale,
    `${what}: ${actual} vs ${expected}`,
  ).toBeLessThanOrEqual(1e-9);
};

describe("combining exact outputs equals the statistic over all rows", () => {
  it("sums counts over the union of groups, a TRE without a group contributing 0", () => {
    const result = combined(countSpec as QuerySpec & { kind: "count" });
    const truth = referenceOutput(countSpec, union) as CountOutput;
    expect(result.cells.map((c) => c.key)).toEqual(truth.cells.map((c) => c.key));
    result.cells.forEach((c, i) => {
      expect(exact(c.combined)).toBe(truth.cells[i]?.n);
    });
    // Regions differ between TREs: "highlands" exists only in north, so south counts exactly 0 there.
    const highlands = result.cells.find((c) => c.key[0] === "highlands");
    expect(highlands?.byTre.south).toEqual({ low: 0, high: 0 });
    expect(result.notes).toEqual([]);
  });

  it("counts with no groupBy give one cell", () => {
    const spec: QuerySpec = {
      kind: "count",
      dataset: "patients",
      filters: [{ column: "diabetes", op: "eq", value: true }],
    };
    const result = combined(spec as QuerySpec & { kind: "count" });
    expect(result.cells).toHaveLength(1);
    expect(exact(result.cells[0]?.combined)).toBe((referenceOutput(spec, union) as CountOutput).cells[0]?.n);
  });

  it("sums crosstabs cell by cell over the union of row and column keys", () => {
    const result = combined(crosstabSpec as QuerySpec & { kind: "crosstab" });
    const truth = referenceOutput(crosstabSpec, union) as CrosstabOutput;
    expect(result.rowKeys).toEqual(truth.rowKeys);
    expect(result.colKeys).toEqual(truth.colKeys); // false, true, null
    expect(result.cells.map((row) => row.map((c) => exact(c.combined)))).toEqual(truth.cells);
  });

  it("pools summaries: n exactly, mean and variance to 1e-9", () => {
    const result = combined(summarySpec as QuerySpec & { kind: "summary" });
    const truth = referenceOutput(summarySpec, union) as SummaryOutput;
    expectSameStatistics(
      result.cells.map((c) => ({
        key: c.key,
        n: exact(c.combined.n),
        mean: c.combined.mean,
        variance: c.combined.variance,
      })),
      truth.cells,
      "summary",
    );
  });

  it("adds histograms bin by bin, below, above and missing too", () => {
    const result = combined(histogramSpec as QuerySpec & { kind: "histogram" });
    const truth = referenceOutput(histogramSpec, union) as HistogramOutput;
    expect(result.counts.map((c) => exact(c.combined))).toEqual(truth.counts);
    expect([
      exact(result.below.combined),
      exact(result.above.combined),
      exact(result.missing.combined),
    ]).toEqual([truth.below, truth.above, truth.missing]);
    expect(result.edges).toHaveLength(15);
    expect(result.edges[14]).toBe(90);
  });

  it("fits the regression on pooled X'X, X'y: coefficients and standard errors equal a fit on the pooled rows", () => {
    const spec = regressionSpec as Extract<QuerySpec, { kind: "regression" }>;
    const result = combined(spec);
    const truth = olsFromRows(spec, union);
    expect(result.n).toBe(truth.n);
    expect(result.combined.df).toBe(truth.n - 4);
    expect(result.terms).toEqual(["(intercept)", "age", "bmi", "smoker"]);
    result.combined.coefficients.forEach((c, j) => {
      close(c.estimate, truth.estimates[j] ?? Number.NaN, `estimate ${c.term}`);
      close(c.se, truth.se[j] ?? Number.NaN, `se ${c.term}`);
      close(c.t, (truth.estimates[j] ?? 0) / (truth.se[j] ?? 1), `t ${c.term}`);
    });
    close(result.combined.rss, truth.rss, "rss");
    // The blood pressure model of the synthetic data: about +0.45 per year of age, +0.8 per BMI point.
    expect(result.combined.coefficients[1]?.estimate).toBeCloseTo(0.45, 1);
    expect(result.combined.coefficients[2]?.estimate).toBeCloseTo(0.8, 1);
  });

  it("fits each TRE alone the same way", () => {
    const spec = regressionSpec as Extract<QuerySpec, { kind: "regression" }>;
    const result = combined(spec);
    for (const s of sites) {
      const truth = olsFromRows(spec, s.rows);
      const mine = result.byTre[s.tre];
      expect(mine?.problem).toBeNull();
      mine?.fit?.coefficients.forEach((c, j) => {
        close(c.estimate, truth.estimates[j] ?? Number.NaN, `${s.tre} estimate ${c.term}`);
        close(c.se, truth.se[j] ?? Number.NaN, `${s.tre} se ${c.term}`);
      });
    }
  });

  it("fits a model without an intercept", () => {
    const spec = { ...regressionSpec, intercept: false } as Extract<QuerySpec, { kind: "regression" }>;
    const result = combined(spec);
    const pooled = referenceOutput(spec, union) as RegressionOutput;
    const alone = combineOutputs([{ tre: "all", output: pooled }]);
    expect(alone.kind === "regression" && alone.combined.coefficients.map((c) => c.estimate)).toEqual(
      result.combined.coefficients.map((c) => expect.closeTo(c.estimate, 9)),
    );
    expect(result.combined.r2).toBeNull();
  });
});

/** Withholds every count below `threshold` as the airlock does: null plus a suppression entry. */
function suppressCounts(o: CountOutput, threshold: number, atMost: boolean): CountOutput {
  const suppressed: { at: string; rule: string; atMost?: number }[] = [];
  const cells = o.cells.map((c, i) => {
    if (c.n === null || c.n >= threshold) return c;
    suppressed.push({
      at: `cells[${i}]`,
      rule: "min_cell_count",
      ...(atMost ? { atMost: threshold - 1 } : {}),
    });
    return { ...c, n: null };
  });
  return analysisOutput({ ...o, cells, suppressed }, "") as CountOutput;
}

/** Rounds each released count to the nearest multiple of `base`, ties away from zero. */
const roundTo = (n: number | null, base: number) => (n === null ? null : Math.round(n / base) * base);

describe("withheld and rounded counts become intervals that contain the truth", () => {
  const narrow: QuerySpec = {
    kind: "count",
    dataset: "patients",
    filters: [{ column: "age", op: "ge", value: 75 }],
    groupBy: ["region", "sex", "smoker"],
  };

  it("bounds a withheld cell by atMost, or leaves it unbounded without one, never as 0", () => {
    const truth = referenceOutput(narrow, union) as CountOutput;
    const parts = perTre<CountOutput>(narrow).map((p) => ({
      tre: p.tre,
      output: suppressCounts(p.output, 10, p.tre !== "small"),
    }));
    const result = combined(narrow as QuerySpec & { kind: "count" }, parts);
    expect(result.cells.map((c) => c.key)).toEqual(truth.cells.map((c) => c.key));
    let bounded = 0;
    let unbounded = 0;
    result.cells.forEach((c, i) => {
      contains(c.combined, truth.cells[i]?.n ?? -1, JSON.stringify(c.key));
      if (c.combined.low !== c.combined.high) bounded++;
      if (c.combined.high === Number.POSITIVE_INFINITY) unbounded++;
    });
    expect(bounded).toBeGreaterThan(0);
    expect(unbounded).toBeGreaterThan(0);
    const withheldAtNorth = parts[0]?.output.suppressed?.[0];
    expect(withheldAtNorth).toBeDefined();
    const idx = Number(withheldAtNorth?.at.match(/\d+/)?.[0]);
    const key = JSON.stringify(parts[0]?.output.cells[idx]?.key);
    const cell = result.cells.find((c) => JSON.stringify(c.key) === key);
    expect(cell?.byTre.north).toEqual({ low: 0, high: 9 });
    expect(result.notes[0]).toMatch(/bounds, not exact/);
  });

  it("bounds rounded counts by ±floor(base/2) and sums the bounds", () => {
    for (const base of [5, 10]) {
      const truth = referenceOutput(narrow, union) as CountOutput;
      const parts = perTre<CountOutput>(narrow).map((p) => ({
        tre: p.tre,
        output: analysisOutput(
          {
            ...p.output,
            cells: p.output.cells.map((c) => ({ ...c, n: roundTo(c.n, base) })),
            rounding: base,
          },
          "",
        ),
      }));
      const result = combined(narrow as QuerySpec & { kind: "count" }, parts);
      expect(result.cells.some((c) => c.combined.low !== c.combined.high)).toBe(true);
      result.cells.forEach((c, i) => {
        contains(c.combined, truth.cells[i]?.n ?? -1, `base ${base} ${JSON.stringify(c.key)}`);
        for (const [tre, b] of Object.entries(c.byTre)) {
          // A group a TRE did not report is exactly 0; a reported one is at most a base wide.
          expect(b.high - b.low, tre).toBeLessThanOrEqual(2 * Math.floor(base / 2));
          expect(b.low).toBeGreaterThanOrEqual(0);
        }
      });
    }
  });

  it("combines suppressed and rounded crosstabs and histograms within bounds", () => {
    const ctTruth = referenceOutput(crosstabSpec, union) as CrosstabOutput;
    const ctParts = perTre<CrosstabOutput>(crosstabSpec).map(({ tre, output }) => {
      const suppressed: { at: string; rule: string; atMost?: number }[] = [];
      const cells = output.cells.map((row, r) =>
        row.map((n, c) => {
          if (n !== null && n < 30) {
            suppressed.push({ at: `cells[${r}][${c}]`, rule: "min_cell_count", atMost: 29 });
            return null;
          }
          return roundTo(n, 5);
        }),
      );
      return { tre, output: analysisOutput({ ...output, cells, suppressed, rounding: 5 }, "") };
    });
    const ct = combined(crosstabSpec as QuerySpec & { kind: "crosstab" }, ctParts);
    ct.cells.forEach((row, r) => {
      row.forEach((c, k) => {
        contains(c.combined, ctTruth.cells[r]?.[k] ?? -1, `crosstab ${r},${k}`);
      });
    });

    const hTruth = referenceOutput(histogramSpec, union) as HistogramOutput;
    const hParts = perTre<HistogramOutput>(histogramSpec).map(({ tre, output }) => {
      // Bins withheld without a bound; below/above/missing withheld with atMost 19.
      const suppressed: { at: string; rule: string; atMost?: number }[] = [];
      const counts = output.counts.map((n, i) => {
        if (n === null || n >= 20) return n;
        suppressed.push({ at: `counts[${i}]`, rule: "min_cell_count" });
        return null;
      });
      const edge = (f: "below" | "above" | "missing") => {
        const n = output[f];
        if (n === null || n >= 20) return n;
        suppressed.push({ at: f, rule: "min_cell_count", atMost: 19 });
        return null;
      };
      const out = { ...output, counts, below: edge("below"), above: edge("above"), missing: edge("missing") };
      return { tre, output: analysisOutput({ ...out, suppressed }, "") };
    });
    const h = combined(histogramSpec as QuerySpec & { kind: "histogram" }, hParts);
    h.counts.forEach((c, i) => {
      contains(c.combined, hTruth.counts[i] ?? -1, `bin ${i}`);
    });
    contains(h.below.combined, hTruth.below ?? -1, "below");
    contains(h.above.combined, hTruth.above ?? -1, "above");
    contains(h.missing.combined, hTruth.missing ?? -1, "missing");
    expect(h.counts.some((c) => c.combined.high === Number.POSITIVE_INFINITY)).toBe(true);
    expect([h.below, h.above, h.missing].some((c) => c.combined.low !== c.combined.high)).toBe(true);
  });

  it("pools a summary over the TREs that released a group and names those left out", () => {
    const parts = perTre<SummaryOutput>(summarySpec);
    const small = parts[2] as TreOutput<SummaryOutput>;
    const target = small.output.cells.findIndex((c) => c.key[0] === "city" && c.key[1] === false);
    expect(target).toBeGreaterThanOrEqual(0);
    const cells = small.output.cells.map((c, i) =>
      i === target ? { ...c, n: null, mean: null, variance: null } : c,
    );
    small.output = analysisOutput(
      { ...small.output, cells, suppressed: [{ at: `cells[${target}]`, rule: "dominance", atMost: 200 }] },
      "",
    ) as SummaryOutput;
    const result = combined(summarySpec as QuerySpec & { kind: "summary" }, parts);
    const cell = result.cells.find((c) => c.key[0] === "city" && c.key[1] === false);
    const withoutSmall = referenceOutput(summarySpec, [
      ...(sites[0]?.rows ?? []),
      ...(sites[1]?.rows ?? []),
    ]) as SummaryOutput;
    const expected = withoutSmall.cells.find((c) => c.key[0] === "city" && c.key[1] === false);
    const all = (referenceOutput(summarySpec, union) as SummaryOutput).cells.find(
      (c) => c.key[0] === "city" && c.key[1] === false,
    );
    expect(cell?.combined.leftOut).toEqual(["small"]);
    expect(cell?.byTre.small?.withheld).toBe(true);
    close(cell?.combined.mean, expected?.mean ?? Number.NaN, "mean without small");
    close(cell?.combined.variance, expected?.variance ?? Number.NaN, "variance without small");
    contains(cell?.combined.n, all?.n ?? -1, "n");
    expect(cell?.combined.n).toEqual({ low: expected?.n, high: (expected?.n ?? 0) + 200 });
    expect(result.notes.join("\n")).toMatch(/region="city", smoker=false: .*without small/);
  });
});

describe("refusing to combine what does not match", () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(CombineError);
      return e as CombineError;
    }
    throw new Error("did not throw");
  };

  it("refuses outputs of different kinds", () => {
    const e = code(() =>
      combineOutputs([
        { tre: "north", output: referenceOutput(countSpec, sites[0]?.rows ?? []) },
        { tre: "south", output: referenceOutput(crosstabSpec, sites[1]?.rows ?? []) },
      ]),
    );
    expect([e.code, e.tre]).toEqual([CombineErrorCode.kindMismatch, "south"]);
  });

  it("refuses outputs of different analyses (another filter)", () => {
    const other: QuerySpec = { ...countSpec, filters: [{ column: "age", op: "ge", value: 41 }] };
    const e = code(() =>
      combineOutputs([
        { tre: "north", output: referenceOutput(countSpec, sites[0]?.rows ?? []) },
        { tre: "south", output: referenceOutput(other, sites[1]?.rows ?? []) },
      ]),
    );
    expect([e.code, e.tre, e.field]).toEqual([CombineErrorCode.analysisMismatch, "south", "analysis"]);
  });

  it("refuses histograms with other bins under the same container analysis", () => {
    const container = {
      kind: "container" as const,
      image: `stats/hist@sha256:${"a".repeat(64)}`,
      command: [],
    };
    const h = (bins: { min: number; max: number; count: number }, rows: PatientRow[]) => ({
      ...(referenceOutput({ ...histogramSpec, bins } as QuerySpec, rows) as HistogramOutput),
      analysis: container,
    });
    const e = code(() =>
      combineOutputs([
        { tre: "north", output: h({ min: 20, max: 90, count: 14 }, sites[0]?.rows ?? []) },
        { tre: "south", output: h({ min: 20, max: 90, count: 7 }, sites[1]?.rows ?? []) },
      ]),
    );
    expect([e.code, e.field]).toEqual([CombineErrorCode.shapeMismatch, "bins"]);
  });

  it("refuses the same TRE twice and an empty list", () => {
    const o = referenceOutput(countSpec, sites[0]?.rows ?? []);
    expect(
      code(() =>
        combineOutputs([
          { tre: "north", output: o },
          { tre: "north", output: o },
        ]),
      ).code,
    ).toBe(CombineErrorCode.duplicateTre);
    expect(code(() => combineOutputs([])).code).toBe(CombineErrorCode.noOutputs);
  });

  it("names the collinear term when the pooled X'X is singular", () => {
    // Among smokers only, `smoker` is the constant 1: the intercept's twin.
    const spec: QuerySpec = { ...regressionSpec, filters: [{ column: "smoker", op: "eq", value: true }] };
    const e = code(() => combined(spec as QuerySpec & { kind: "regression" }));
    expect([e.code, e.field]).toEqual([CombineErrorCode.singularMatrix, "smoker"]);
    expect(e.message).toMatch(/pooled X'X is singular: term "smoker"/);
  });

  it("still fits the pool when one TRE alone cannot be fitted, and says why", () => {
    // small has no rows that match: its X'X is all zeros, while the others fit well.
    const parts = sites.map((s) => ({
      tre: s.tre,
      output: referenceOutput(regressionSpec, s.tre === "small" ? [] : s.rows),
    }));
    const result = combined(regressionSpec as QuerySpec & { kind: "regression" }, parts);
    expect(result.byTre.small?.fit).toBeNull();
    expect(result.byTre.small?.problem).toMatch(/X'X of small is singular: 0 rows for 4 terms/);
    expect(result.notes.join("\n")).toMatch(/small alone/);
    expect(result.combined.coefficients).toHaveLength(4);
    expect(result.byTre.north?.fit?.coefficients).toHaveLength(4);
  });

  it("refuses a rounding base that is not a positive integer", () => {
    const o = referenceOutput(countSpec, sites[0]?.rows ?? []);
    const e = code(() =>
      combineOutputs([{ tre: "north", output: { ...o, rounding: 2.5 } as AnalysisOutput }]),
    );
    expect([e.code, e.tre]).toEqual([CombineErrorCode.badRounding, "north"]);
  });
});
