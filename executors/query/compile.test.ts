import { describe, expect, it } from "vitest";
import type { AnalysisSpec } from "../../protocol/index.js";
import { AnalysisRefused } from "../errors.js";
import { compile } from "./compile.js";
import type { DatasetDefinition } from "./dataset.js";

const patients: DatasetDefinition = {
  name: "patients",
  engine: "postgres",
  schema: "public",
  table: "patients",
  columns: { age: "numeric", bmi: "numeric", sex: "categorical", region: "categorical", smoker: "boolean" },
  identifiers: ["patient_id"],
};

/** The refusal's "field: problem" text, or a failure if the spec compiled. */
function refusal(spec: unknown, dataset: DatasetDefinition = patients): string {
  try {
    compile(spec as AnalysisSpec, dataset);
  } catch (error) {
    if (error instanceof AnalysisRefused) return error.message;
    throw error;
  }
  throw new Error("compiled");
}

const base = { dataset: "patients" };

describe("compile", () => {
  it("compiles a grouped, filtered count with every value bound", () => {
    const q = compile(
      {
        kind: "count",
        ...base,
        groupBy: ["region", "smoker"],
        filters: [
          { column: "sex", op: "eq", value: "F" },
          { column: "age", op: "between", value: [40, 60] },
        ],
      },
      patients,
    );
    expect(q.sql).toBe(
      'SELECT "region" AS k0, "smoker" AS k1, count(*) AS n FROM "public"."patients" WHERE "sex" = $1 AND ' +
        'CAST("age" AS DOUBLE PRECISION) BETWEEN CAST($2 AS DOUBLE PRECISION) AND CAST($3 AS DOUBLE PRECISION) ' +
        'GROUP BY "region", "smoker"',
    );
    expect(q.params).toEqual(["F", 40, 60]);
    expect(q.columns.sort()).toEqual(["age", "region", "sex", "smoker"]);
    expect(q.categoricalChecks).toEqual([
      { field: "filters[0].value", column: "sex", values: ["F"], list: false },
    ]);
  });

  it("compiles every filter operator to SQL with placeholders only", () => {
    const q = compile(
      {
        kind: "count",
        ...base,
        filters: [
          { column: "age", op: "ne", value: 1 },
          { column: "age", op: "lt", value: 2 },
          { column: "age", op: "le", value: 3 },
          { column: "age", op: "gt", value: 4 },
          { column: "age", op: "ge", value: 5 },
          { column: "region", op: "in", value: ["a", "b"] },
          { column: "bmi", op: "is_null" },
          { column: "smoker", op: "not_null" },
        ],
      },
      patients,
    );
    const where = q.sql.slice(q.sql.indexOf("WHERE"));
    expect(where).toContain('"age" AS DOUBLE PRECISION) <> CAST($1');
    expect(where).toContain("< CAST($2");
    expect(where).toContain("<= CAST($3");
    expect(where).toContain("> CAST($4");
    expect(where).toContain(">= CAST($5");
    expect(where).toContain('"region" IN ($6, $7)');
    expect(where).toContain('CAST("bmi" AS DOUBLE PRECISION) IS NULL');
    expect(where).toContain('"smoker" IS NOT NULL');
    expect(q.params).toEqual([1, 2, 3, 4, 5, "a", "b"]);
  });

  it("binds hostile filter values as data, never as SQL text", () => {
    const hostile = "x'; DROP TABLE patients; --";
    const q = compile(
      { kind: "count", ...base, filters: [{ column: "region", op: "in", value: [hostile, 'a"b'] }] },
      patients,
    );
    expect(q.sql).not.toContain("DROP");
    expect(q.sql).not.toContain('a"b');
    expect(q.params).toEqual([hostile, 'a"b']);
  });

  it("binds histogram bins after the filters' values", () => {
    const q = compile(
      {
        kind: "histogram",
        ...base,
        column: "bmi",
        bins: { min: 10, max: 50, count: 8 },
        filters: [{ column: "sex", op: "eq", value: "M" }],
      },
      patients,
    );
    expect(q.params).toEqual(["M", 10, 50, 8]);
    expect(q.sql).toContain("floor((v - CAST($2 AS DOUBLE PRECISION)) * CAST($4 AS DOUBLE PRECISION)");
  });

  it("gives a summary a private dominance query over the same rows, values bound", () => {
    const hostile = "x'; DROP TABLE patients; --";
    const q = compile(
      {
        kind: "summary",
        ...base,
        column: "bmi",
        groupBy: ["sex", "smoker"],
        filters: [
          { column: "region", op: "eq", value: hostile },
          { column: "age", op: "ge", value: 40 },
        ],
      },
      patients,
    );
    expect(q.dominance?.sql).toBe(
      "SELECT k0, k1, total, a FROM (SELECT k0, k1, abs(v) AS a, sum(abs(v)) OVER (PARTITION BY k0, k1) AS total, " +
        "row_number() OVER (PARTITION BY k0, k1 ORDER BY abs(v) DESC) AS r " +
        'FROM (SELECT "sex" AS k0, "smoker" AS k1, CAST("bmi" AS DOUBLE PRECISION) AS v FROM "public"."patients" ' +
        'WHERE "region" = $1 AND CAST("age" AS DOUBLE PRECISION) >= CAST($2 AS DOUBLE PRECISION)) AS s ' +
        "WHERE v IS NOT NULL) AS t WHERE r <= 5",
    );
    expect(q.dominance?.params).toEqual([hostile, 40]);
    // The main statement's filters are the same text with the same values.
    expect(q.params).toEqual([hostile, 40]);
    expect(q.sql).toContain('WHERE "region" = $1 AND CAST("age" AS DOUBLE PRECISION) >= CAST($2');
    const ungrouped = compile({ kind: "summary", ...base, column: "age" }, patients);
    expect(ungrouped.dominance?.sql).toMatch(
      /^SELECT total, a FROM \(SELECT abs\(v\) AS a, sum\(abs\(v\)\) OVER \(\) AS total, row_number\(\) OVER \(ORDER BY abs\(v\) DESC\) AS r /,
    );
    expect(ungrouped.dominance?.params).toEqual([]);
    expect(compile({ kind: "count", ...base }, patients).dominance).toBeUndefined();
  });

  it("computes regression sums only over complete rows, booleans as 0/1", () => {
    const q = compile(
      { kind: "regression", ...base, outcome: "bmi", predictors: ["age", "smoker"], intercept: false },
      patients,
    );
    expect(q.sql).toContain('CAST(CAST("smoker" AS INTEGER) AS DOUBLE PRECISION) AS x2');
    // rows, n, X'X upper triangle (3), X'y (2), y'y
    expect(q.sql.match(/ AS s\d+/g)).toHaveLength(2 + 3 + 2 + 1);
    expect(q.sql).toContain(
      "sum(x1 * x2) FILTER (WHERE y IS NOT NULL AND x1 IS NOT NULL AND x2 IS NOT NULL)",
    );
  });

  describe("refuses identifier and unlisted columns in every position", () => {
    const positions: [string, (c: string) => unknown][] = [
      ["column", (c) => ({ kind: "summary", ...base, column: c })],
      ["column", (c) => ({ kind: "histogram", ...base, column: c, bins: { min: 0, max: 1, count: 1 } })],
      [
        "filters[0].column",
        (c) => ({ kind: "count", ...base, filters: [{ column: c, op: "eq", value: 1 }] }),
      ],
      ["filters[0].column", (c) => ({ kind: "count", ...base, filters: [{ column: c, op: "not_null" }] })],
      ["groupBy[1]", (c) => ({ kind: "count", ...base, groupBy: ["sex", c] })],
      ["groupBy[0]", (c) => ({ kind: "summary", ...base, column: "age", groupBy: [c] })],
      ["rows", (c) => ({ kind: "crosstab", ...base, rows: c, cols: "sex" })],
      ["cols", (c) => ({ kind: "crosstab", ...base, rows: "sex", cols: c })],
      ["outcome", (c) => ({ kind: "regression", ...base, outcome: c, predictors: ["age"] })],
      ["predictors[1]", (c) => ({ kind: "regression", ...base, outcome: "bmi", predictors: ["age", c] })],
    ];
    it.each(positions)("an identifier in %s", (field, spec) => {
      expect(refusal(spec("patient_id"))).toBe(
        `${field}: 'patient_id' is an identifier column of dataset 'patients' and can never be used`,
      );
      // DuckDB resolves quoted names case-insensitively, so a case variant is the same column.
      expect(refusal(spec("Patient_ID"))).toMatch(/is an identifier column/);
    });
    it.each(positions)("an unlisted column in %s", (field, spec) => {
      for (const name of ["postcode", "constructor", "__proto__"]) {
        expect(refusal(spec(name))).toBe(
          `${field}: '${name}' is not an allowed column of dataset 'patients'`,
        );
      }
    });
    it.each(positions)("a name that is not an identifier at all in %s", (field, spec) => {
      expect(refusal(spec('age"; DROP TABLE patients; --'))).toMatch(
        new RegExp(`^${field.replace(/[[\]]/g, "\\$&")}: `),
      );
    });
  });

  it("refuses a hostile dataset name, and a dataset that is not the one given", () => {
    expect(refusal({ kind: "count", dataset: "patients; DROP TABLE x" })).toBe(
      'dataset: "patients; DROP TABLE x" is not an identifier (letters, digits, _)',
    );
    expect(refusal({ kind: "count", dataset: "visits" })).toBe(
      "dataset: 'visits' is not the dataset 'patients' given to run it on",
    );
  });

  it.each([
    [
      "column: 'sex' is categorical; a summary needs a numeric column",
      { kind: "summary", ...base, column: "sex" },
    ],
    [
      "column: 'smoker' is boolean; a histogram needs a numeric column",
      { kind: "histogram", ...base, column: "smoker", bins: { min: 0, max: 1, count: 2 } },
    ],
    [
      "bins.max: must be greater than bins.min",
      { kind: "histogram", ...base, column: "age", bins: { min: 5, max: 5, count: 2 } },
    ],
    [
      "groupBy[0]: 'age' is numeric; group by needs a categorical or boolean column",
      { kind: "count", ...base, groupBy: ["age"] },
    ],
    ["cols: must differ from rows", { kind: "crosstab", ...base, rows: "sex", cols: "sex" }],
    [
      "predictors[0]: 'sex' is categorical; a regression predictor needs a numeric or boolean column",
      { kind: "regression", ...base, outcome: "age", predictors: ["sex"] },
    ],
    [
      "predictors[1]: 'age' is the outcome",
      { kind: "regression", ...base, outcome: "age", predictors: ["bmi", "age"] },
    ],
    [
      "filters[0].op: 'lt' needs a numeric column; 'sex' is categorical",
      { kind: "count", ...base, filters: [{ column: "sex", op: "lt", value: "M" }] },
    ],
    [
      "filters[0].value: 'in' needs a non-empty array of values",
      { kind: "count", ...base, filters: [{ column: "sex", op: "in", value: "M" }] },
    ],
    [
      "filters[0].value: 'in' needs a non-empty array of values",
      { kind: "count", ...base, filters: [{ column: "sex", op: "in", value: [] }] },
    ],
    [
      "filters[0].value: 'between' needs an array of two numbers [low, high]",
      { kind: "count", ...base, filters: [{ column: "age", op: "between", value: [1] }] },
    ],
    [
      "filters[0].value: low must not be above high",
      { kind: "count", ...base, filters: [{ column: "age", op: "between", value: [9, 1] }] },
    ],
    [
      "filters[0].value: 'is_null' takes no value",
      { kind: "count", ...base, filters: [{ column: "age", op: "is_null", value: 1 }] },
    ],
    [
      "filters[0].value: 'eq' needs a value",
      { kind: "count", ...base, filters: [{ column: "age", op: "eq" }] },
    ],
    [
      "filters[0].value: 'eq' takes one value, not an array",
      { kind: "count", ...base, filters: [{ column: "age", op: "eq", value: [1] }] },
    ],
    [
      "filters[0].value: expected a number for a numeric column, got string",
      { kind: "count", ...base, filters: [{ column: "age", op: "gt", value: "40" }] },
    ],
    [
      "filters[0].value: expected true or false for a boolean column, got string",
      { kind: "count", ...base, filters: [{ column: "smoker", op: "eq", value: "yes" }] },
    ],
    [
      "filters[0].value[1]: expected a string or a number for a categorical column, got boolean",
      { kind: "count", ...base, filters: [{ column: "sex", op: "in", value: ["F", true] }] },
    ],
    [
      "kind: the query executor does not run container analyses",
      { kind: "container", image: `x@sha256:${"0".repeat(64)}`, command: [] },
    ],
  ])("refuses: %s", (message, spec) => {
    expect(refusal(spec)).toBe(message);
  });
});
