/**
 * The statistics of the query executor's analyses, computed in plain JS straight from generated rows,
 * independently of the SQL compiler: what every engine's output must equal. Shares with the executor
 * only the protocol's definitions (key order, term names, the histogram bin formula as documented).
 */
import { expect } from "vitest";
import type { QuerySpec } from "../../executors/index.js";
import type { PatientRow } from "../../fixtures/index.js";
import {
  type AnalysisOutput,
  type CellKey,
  compareKeys,
  compareKeyValues,
  type Filter,
  type KeyValue,
  regressionTerms,
} from "../../protocol/index.js";

type Value = string | number | boolean | null;
const get = (row: PatientRow, column: string): Value => row[column as keyof PatientRow];

/** SQL's filter semantics: a comparison involving null is not true. */
export function keeps(row: PatientRow, f: Filter): boolean {
  const v = get(row, f.column);
  if (f.op === "is_null") return v === null;
  if (v === null) return false;
  const x = f.value;
  switch (f.op) {
    case "not_null":
      return true;
    case "eq":
      return v === x;
    case "ne":
      return v !== x;
    case "lt":
      return (v as number) < (x as number);
    case "le":
      return (v as number) <= (x as number);
    case "gt":
      return (v as number) > (x as number);
    case "ge":
      return (v as number) >= (x as number);
    case "in":
      return (x as Value[]).includes(v);
    case "between": {
      const [lo, hi] = x as [number, number];
      return (v as number) >= lo && (v as number) <= hi;
    }
  }
}

const asNumber = (v: Value): number | null =>
  v === null ? null : typeof v === "boolean" ? Number(v) : (v as number);

function groups(rows: PatientRow[], by: readonly string[]): [CellKey, PatientRow[]][] {
  const map = new Map<string, [CellKey, PatientRow[]]>();
  for (const r of rows) {
    const key = by.map((c) => get(r, c));
    const k = JSON.stringify(key);
    const entry = map.get(k) ?? [key, []];
    entry[1].push(r);
    map.set(k, entry);
  }
  return [...map.values()].sort((a, b) => compareKeys(a[0], b[0]));
}

/** The expected output of `spec` over `all` rows. */
export function referenceOutput(spec: QuerySpec, all: PatientRow[]): AnalysisOutput {
  const rows = all.filter((r) => (spec.filters ?? []).every((f) => keeps(r, f)));
  const base = { dataset: spec.dataset, analysis: spec };
  switch (spec.kind) {
    case "count": {
      const by = spec.groupBy ?? [];
      const cells =
        by.length === 0
          ? [{ key: [], n: rows.length }]
          : groups(rows, by).map(([key, g]) => ({ key, n: g.length }));
      return { kind: "count", ...base, groupBy: by, cells };
    }
    case "summary": {
      const by = spec.groupBy ?? [];
      const parts: [CellKey, PatientRow[]][] = by.length === 0 ? [[[], rows]] : groups(rows, by);
      const cells = parts.map(([key, g]) => {
        const xs = g.map((r) => asNumber(get(r, spec.column))).filter((x): x is number => x !== null);
        const n = xs.length;
        const mean = n === 0 ? null : xs.reduce((s, x) => s + x, 0) / n;
        const variance =
          n < 2 || mean === null ? null : xs.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1);
        return { key, n, mean, variance };
      });
      return { kind: "summary", ...base, column: spec.column, groupBy: by, cells };
    }
    case "histogram": {
      const { min, max, count } = spec.bins;
      const counts = new Array<number>(count).fill(0);
      let [below, above, missing] = [0, 0, 0];
      for (const r of rows) {
        const v = asNumber(get(r, spec.column));
        if (v === null) missing++;
        else if (v < min) below++;
        else if (v > max) above++;
        else {
          const i = Math.min(Math.floor(((v - min) * count) / (max - min)), count - 1);
          counts[i] = (counts[i] ?? 0) + 1;
        }
      }
      return {
        kind: "histogram",
        ...base,
        column: spec.column,
        bins: spec.bins,
        counts,
        below,
        above,
        missing,
      };
    }
    case "crosstab": {
      const distinct = (c: string) =>
        [...new Set(rows.map((r) => get(r, c)))].sort((a: KeyValue, b: KeyValue) => compareKeyValues(a, b));
      const rowKeys = distinct(spec.rows);
      const colKeys = distinct(spec.cols);
      const cells = rowKeys.map((rk) =>
        colKeys.map((ck) => rows.filter((r) => get(r, spec.rows) === rk && get(r, spec.cols) === ck).length),
      );
      return { kind: "crosstab", ...base, rows: spec.rows, cols: spec.cols, rowKeys, colKeys, cells };
    }
    case "regression": {
      const intercept = spec.intercept ?? true;
      const complete = rows
        .map((r) => [spec.outcome, ...spec.predictors].map((c) => asNumber(get(r, c))))
        .filter((vs): vs is number[] => vs.every((v) => v !== null));
      const terms = regressionTerms(spec.predictors, intercept);
      const p = terms.length;
      const xtx = terms.map(() => new Array<number>(p).fill(0));
      const xty = new Array<number>(p).fill(0);
      let yty = 0;
      for (const [y, ...x] of complete) {
        const xs = intercept ? [1, ...x] : x;
        for (let i = 0; i < p; i++) {
          xty[i] = (xty[i] ?? 0) + (xs[i] ?? 0) * (y ?? 0);
          for (let j = 0; j < p; j++)
            (xtx[i] as number[])[j] = (xtx[i]?.[j] ?? 0) + (xs[i] ?? 0) * (xs[j] ?? 0);
        }
        yty += (y ?? 0) ** 2;
      }
      return {
        kind: "regression",
        ...base,
        outcome: spec.outcome,
        predictors: spec.predictors,
        intercept,
        terms,
        n: complete.length,
        dropped: rows.length - complete.length,
        xtx,
        xty,
        yty,
      };
    }
  }
}

/**
 * Asserts `actual` equals `expected`: structure, keys and integers exactly; other numbers to 1e-9
 * relative (the engines sum in another order than JS does).
 */
export function expectSameStatistics(actual: unknown, expected: unknown, path = "output"): void {
  if (typeof expected === "number" && typeof actual === "number") {
    if (Number.isInteger(expected) && Number.isInteger(actual)) {
      expect(actual, path).toBe(expected);
    } else {
      const scale = Math.max(1, Math.abs(expected), Math.abs(actual));
      expect(Math.abs(actual - expected) / scale, `${path}: ${actual} vs ${expected}`).toBeLessThanOrEqual(
        1e-9,
      );
    }
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, `${path}.length`).toBe(expected.length);
    expected.forEach((e, i) => {
      expectSameStatistics((actual as unknown[])[i], e, `${path}[${i}]`);
    });
    return;
  }
  if (expected !== null && typeof expected === "object") {
    expect(actual !== null && typeof actual === "object", path).toBe(true);
    expect(Object.keys(actual as object).sort(), `${path} keys`).toEqual(Object.keys(expected).sort());
    for (const [k, e] of Object.entries(expected)) {
      expectSameStatistics((actual as Record<string, unknown>)[k], e, `${path}.${k}`);
    }
    return;
  }
  expect(actual, path).toBe(expected);
}

/**
 * The dominance facts the executor must give for a summary: per cell of `referenceOutput` (same
 * order), the sum of |v| and the five largest |v|, descending, over the cell's non-null values.
 */
export function referenceDominance(
  spec: Extract<QuerySpec, { kind: "summary" }>,
  all: PatientRow[],
): { at: string; total: number; top: number[] }[] {
  const rows = all.filter((r) => (spec.filters ?? []).every((f) => keeps(r, f)));
  const by = spec.groupBy ?? [];
  const parts: [CellKey, PatientRow[]][] = by.length === 0 ? [[[], rows]] : groups(rows, by);
  return parts.map(([, g], i) => {
    const abs = g
      .map((r) => asNumber(get(r, spec.column)))
      .filter((x): x is number => x !== null)
      .map(Math.abs)
      .sort((a, b) => b - a);
    return { at: `cells[${i}]`, total: abs.reduce((s, x) => s + x, 0), top: abs.slice(0, 5) };
  });
}
