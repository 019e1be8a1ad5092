/**
 * Result rows (positional, as either engine returns them) → the output description. Numbers arrive as
 * JS numbers, bigints (DuckDB BIGINT, and PostgreSQL int8 as our pg client parses it) or numeric
 * strings; everything leaves as a JS number, and a count that is not a safe integer is an error
 * rather than a silently rounded value.
 */
import {
  type AnalysisOutput,
  type CellKey,
  compareKeys,
  compareKeyValues,
  type KeyValue,
  regressionTerms,
} from "../../protocol/index.js";
import type { CompiledQuery } from "./compile.js";

export type Row = readonly unknown[];

export class ResultShapeError extends Error {
  override readonly name = "ResultShapeError";
}

/** Builds the description of `query`'s result. Throws ResultShapeError on a value no statistic can hold. */
export function buildOutput(query: CompiledQuery, rows: readonly Row[]): AnalysisOutput {
  const spec = query.spec;
  const base = { dataset: spec.dataset, analysis: spec };
  switch (spec.kind) {
    case "count": {
      const groupBy = spec.groupBy ?? [];
      const g = groupBy.length;
      const cells = rows.map((r) => ({ key: keyOf(r, g), n: toCount(r[g]) }));
      return { kind: "count", ...base, groupBy, cells: sortCells(cells) };
    }
    case "summary": {
      const groupBy = spec.groupBy ?? [];
      const g = groupBy.length;
      const cells = rows.map((r) => {
        const n = toCount(r[g]);
        return {
          key: keyOf(r, g),
          n,
          mean: n === 0 ? null : toDouble(r[g + 1]),
          variance: n < 2 ? null : toDouble(r[g + 2]),
        };
      });
      return { kind: "summary", ...base, column: spec.column, groupBy, cells: sortCells(cells) };
    }
    case "histogram": {
      const counts = new Array<number>(spec.bins.count).fill(0);
      let [missing, below, above] = [0, 0, 0];
      for (const r of rows) {
        const code = toCount(r[0] === null ? -1 : r[0], true);
        const n = toCount(r[1]);
        if (code >= 0 && code < counts.length) counts[code] = (counts[code] ?? 0) + n;
        else if (code === -1) missing += n;
        else if (code === -2) below += n;
        else if (code === -3) above += n;
        else throw new ResultShapeError(`bin code ${code} is outside the histogram`);
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
      const rowKeys = distinctSorted(rows.map((r) => toKeyValue(r[0])));
      const colKeys = distinctSorted(rows.map((r) => toKeyValue(r[1])));
      const cells = rowKeys.map(() => new Array<number>(colKeys.length).fill(0));
      const index = (keys: KeyValue[], k: KeyValue) => keys.findIndex((x) => compareKeyValues(x, k) === 0);
      for (const r of rows) {
        const row = cells[index(rowKeys, toKeyValue(r[0]))];
        const c = index(colKeys, toKeyValue(r[1]));
        if (row === undefined || c < 0) throw new ResultShapeError("a crosstab key went missing");
        row[c] = (row[c] ?? 0) + toCount(r[2]);
      }
      return { kind: "crosstab", ...base, rows: spec.rows, cols: spec.cols, rowKeys, colKeys, cells };
    }
    case "regression":
      return regressionOutput(spec, base, rows[0]);
  }
}

function regressionOutput(
  spec: Extract<CompiledQuery["spec"], { kind: "regression" }>,
  base: { dataset: string; analysis: CompiledQuery["spec"] },
  row: Row | undefined,
): AnalysisOutput {
  if (row === undefined) throw new ResultShapeError("a regression gives exactly one row");
  const intercept = spec.intercept ?? true;
  const terms = regressionTerms(spec.predictors, intercept);
  const p = terms.length;
  const total = toCount(row[0]);
  const n = toCount(row[1]);
  const xtx = terms.map(() => new Array<number>(p).fill(0));
  let at = 2;
  for (let i = 0; i < p; i++) {
    for (let j = i; j < p; j++) {
      const s = toSum(row[at++]);
      (xtx[i] as number[])[j] = s;
      (xtx[j] as number[])[i] = s;
    }
  }
  const xty = terms.map(() => toSum(row[at++]));
  const yty = toSum(row[at++]);
  return {
    kind: "regression",
    ...base,
    outcome: spec.outcome,
    predictors: spec.predictors,
    intercept,
    terms,
    n,
    dropped: total - n,
    xtx,
    xty,
    yty,
  };
}

function keyOf(row: Row, g: number): CellKey {
  return row.slice(0, g).map(toKeyValue);
}

function sortCells<C extends { key: CellKey }>(cells: C[]): C[] {
  return cells.sort((a, b) => compareKeys(a.key, b.key));
}

function distinctSorted(values: KeyValue[]): KeyValue[] {
  return values
    .sort(compareKeyValues)
    .filter((v, i, all) => i === 0 || compareKeyValues(all[i - 1] ?? null, v) !== 0);
}

/** A group key value: text, number or boolean as is; integers beyond 2^53 as their decimal text. */
export function toKeyValue(v: unknown): KeyValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new ResultShapeError("a group key is not a finite number");
    return v;
  }
  if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  throw new ResultShapeError(`a group key has unsupported type ${typeof v}`);
}

function toCount(v: unknown, allowNegative = false): number {
  const n = typeof v === "bigint" ? Number(v) : typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || (!allowNegative && n < 0))
    throw new ResultShapeError("a count is not a safe non-negative integer");
  return n;
}

export function toDouble(v: unknown): number {
  const n = typeof v === "bigint" || typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n))
    throw new ResultShapeError("a statistic is not a finite number");
  return n;
}

/** A sum over no rows is SQL NULL; as a sufficient statistic it is 0. */
function toSum(v: unknown): number {
  return v === null ? 0 : toDouble(v);
}
