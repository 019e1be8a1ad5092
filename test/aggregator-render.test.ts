/**
 * The aggregator's tables, CSV, JSON and SVG show bounds as bounds (never a withheld count as 0), keep
 * the documented shapes, and escape text from other parties.
 */
import { describe, expect, it } from "vitest";
import {
  AGGREGATE_JSON_FORMAT,
  type CombinedResult,
  combineOutputs,
  renderTables,
  toCsv,
  toJson,
  toSvg,
} from "../aggregator/index.js";
import { formatInterval } from "../aggregator/render-format.js";
import type { QuerySpec } from "../executors/index.js";
import { generatePatients, patientProfiles } from "../fixtures/index.js";
import { analysisOutput, type CountOutput, type SummaryOutput } from "../protocol/index.js";
import { referenceOutput } from "./harness/reference-stats.js";

const sites = [
  { tre: "north", rows: generatePatients(patientProfiles.north, 5, "N") },
  { tre: "south", rows: generatePatients(patientProfiles.south, 6, "S") },
  { tre: "small", rows: generatePatients(patientProfiles.small, 7, "M") },
];
const combine = (spec: QuerySpec) =>
  combineOutputs(sites.map((s) => ({ tre: s.tre, output: referenceOutput(spec, s.rows) })));

const countSpec: QuerySpec = { kind: "count", dataset: "patients", groupBy: ["region", "sex"] };

/** north exact; south rounded to 5; small with every cell withheld, the first without a bound. */
function boundedCounts(): CombinedResult {
  const [north, south, small] = sites.map((s) => referenceOutput(countSpec, s.rows) as CountOutput);
  const rounded = analysisOutput(
    {
      ...south,
      cells: south?.cells.map((c) => ({ ...c, n: Math.round((c.n ?? 0) / 5) * 5 })),
      rounding: 5,
    },
    "",
  );
  const withheld = analysisOutput(
    {
      ...small,
      cells: small?.cells.map((c) => ({ ...c, n: null })),
      suppressed: small?.cells.map((_, i) => ({
        at: `cells[${i}]`,
        rule: "min_cell_count",
        ...(i === 0 ? {} : { atMost: 9 }),
      })),
    },
    "",
  );
  return combineOutputs([
    { tre: "north", output: north as CountOutput },
    { tre: "south", output: rounded },
    { tre: "small", output: withheld },
  ]);
}

describe("formatInterval", () => {
  it("shows exact counts, upper bounds, ranges and unbounded values", () => {
    expect(formatInterval({ low: 12, high: 12 })).toBe("12");
    expect(formatInterval({ low: 0, high: 9 })).toBe("≤9");
    expect(formatInterval({ low: 40, high: 44 })).toBe("40–44");
    expect(formatInterval({ low: 0, high: Number.POSITIVE_INFINITY })).toBe("withheld");
    expect(formatInterval({ low: 30, high: Number.POSITIVE_INFINITY })).toBe("≥30");
  });
});

describe("renderTables", () => {
  it("has a column per TRE and a combined one, and never shows a withheld count as 0", () => {
    const text = renderTables(boundedCounts());
    const lines = text.split("\n");
    expect(lines.find((l) => l.startsWith("region"))).toMatch(
      /region\s+sex\s+north\s+south\s+small\s+combined/,
    );
    const city = lines.find((l) => /^city\s+F/.test(l)) ?? "";
    const [, , , south, small, combinedCell] = city.split(/\s+/);
    expect(south).toMatch(/^\d+–\d+$/);
    expect(small).toBe("withheld");
    expect(combinedCell).toMatch(/^≥\d+$/);
    expect(text).toMatch(/≤9/);
    expect(text).toMatch(/note: \d+ of \d+ combined counts are bounds/);
  });

  it("labels a pooled summary that leaves a TRE out", () => {
    const spec: QuerySpec = { kind: "summary", dataset: "patients", column: "bmi", groupBy: ["sex"] };
    const parts = sites.map((s) => ({ tre: s.tre, output: referenceOutput(spec, s.rows) as SummaryOutput }));
    const small = parts[2];
    if (small)
      small.output = analysisOutput(
        {
          ...small.output,
          cells: small.output.cells.map((c, i) =>
            i === 0 ? { ...c, n: null, mean: null, variance: null } : c,
          ),
          suppressed: [{ at: "cells[0]", rule: "dominance" }],
        },
        "",
      ) as SummaryOutput;
    const text = renderTables(combineOutputs(parts));
    expect(text).toMatch(/F\s+combined \(without small\)/);
    expect(text).toMatch(/F\s+small\s+withheld/);
  });

  it("shows each TRE's and the combined regression with standard errors and a 95% interval", () => {
    const text = renderTables(
      combine({
        kind: "regression",
        dataset: "patients",
        outcome: "systolic_bp",
        predictors: ["age", "bmi"],
      }),
    );
    expect(text).toMatch(/systolic_bp ~ age \+ bmi: estimate \(standard error\)/);
    expect(text).toMatch(
      /^age\s+[\d.]+ \([\d.]+\)\s+[\d.]+ \([\d.]+\)\s+[\d.]+ \([\d.]+\)\s+[\d.]+ \([\d.]+\)$/m,
    );
    expect(text).toMatch(/95% CI/);
  });
});

describe("toCsv", () => {
  it("writes a header and one row per cell per TRE plus combined, bounds as low and high", () => {
    const result = boundedCounts();
    const lines = toCsv(result).trimEnd().split("\n");
    expect(lines[0]).toBe("region,sex,source,low,high");
    expect(result.kind === "count" && lines.length).toBe(
      1 + (result.kind === "count" ? result.cells.length : 0) * 4,
    );
    expect(lines).toContain("city,F,small,0,");
    expect(lines.some((l) => /^city,F,combined,\d+,$/.test(l))).toBe(true);
    expect(lines.some((l) => /^city,M,small,0,9$/.test(l))).toBe(true);
  });

  it("writes regression terms with estimates, standard errors and t", () => {
    const csv = toCsv(
      combine({ kind: "regression", dataset: "patients", outcome: "systolic_bp", predictors: ["age"] }),
    );
    const [header, ...rows] = csv.trimEnd().split("\n");
    expect(header).toBe("term,source,n,estimate,se,t,df,sigma2,r2");
    expect(rows).toHaveLength(2 * 4);
    expect(rows[3]).toMatch(/^\(intercept\),combined,\d+,[\d.]+,[\d.]+,[\d.]+,\d+,[\d.]+,[\d.]+$/);
  });

  it("keeps a null key apart from an empty string and quotes what needs quoting", () => {
    const result = combine({ kind: "crosstab", dataset: "patients", rows: "sex", cols: "smoker" });
    expect(toCsv(result)).toMatch(/^F,,north,\d+,\d+$/m); // smoker null
    if (result.kind !== "crosstab") throw new Error("kind");
    const odd = { ...result, rowKeys: ['a,"b"', ""] };
    expect(toCsv(odd)).toMatch(/^"a,""b""",false,north,/m);
    expect(toCsv(odd)).toMatch(/^"",false,north,/m);
  });
});

describe("toJson", () => {
  it("has the documented format marker and writes unbounded highs as null", () => {
    const parsed = JSON.parse(toJson(boundedCounts()));
    expect(parsed.format).toBe(AGGREGATE_JSON_FORMAT);
    expect(parsed.kind).toBe("count");
    expect(parsed.tres).toEqual(["north", "south", "small"]);
    const first = parsed.cells[0];
    expect(first.byTre.small).toEqual({ low: 0, high: null });
    expect(first.combined.high).toBeNull();
    expect(Object.keys(parsed)).toEqual([
      "format",
      "kind",
      "dataset",
      "analysis",
      "tres",
      "notes",
      "groupBy",
      "cells",
    ]);
  });
});

describe("toSvg", () => {
  it("draws a histogram with bars, axis labels, and hollow bars for bounds", () => {
    const result = combine({
      kind: "histogram",
      dataset: "patients",
      column: "age",
      bins: { min: 20, max: 90, count: 7 },
    });
    const svg = toSvg(result) ?? "";
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<rect [^>]*fill="#3b6ea5"/g)).toHaveLength(7);
    expect(svg).toMatch(/>age<\/text>/);
    expect(svg).toMatch(/>count<\/text>/);
    if (result.kind !== "histogram") throw new Error("kind");
    const first = result.counts[0];
    if (first) first.combined = { low: 10, high: Number.POSITIVE_INFINITY };
    expect(toSvg({ ...result, dataset: "<script>&" })).toMatch(/&lt;script&gt;&amp;/);
    expect(toSvg(result)).toMatch(/stroke-dasharray="3 2"/);
  });

  it("draws each regression coefficient with ±1.96·SE bars per TRE and combined", () => {
    const svg =
      toSvg(
        combine({
          kind: "regression",
          dataset: "patients",
          outcome: "systolic_bp",
          predictors: ["age", "bmi"],
        }),
      ) ?? "";
    expect(svg.match(/<circle /g)).toHaveLength(3 * 3); // three TREs × three terms
    expect(svg.match(/rotate\(45 /g)).toHaveLength(3); // the combined diamonds
    expect(svg).toMatch(/±1\.96·SE/);
  });

  it("has no chart for counts", () => {
    expect(toSvg(combine(countSpec))).toBeNull();
  });
});
