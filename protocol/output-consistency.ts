/**
 * Whether an output description agrees with itself and with the analysis it answers: key lengths,
 * unique keys, matrix sizes, bins, regression terms and symmetry, the summary null rules, the
 * suppression list against the withheld (null) values, and the rounding marker against the counts.
 */
import type { AnalysisSpec } from "./analysis.js";
import type { KeyValue } from "./output-keys.js";
import { type AnalysisOutput, regressionTerms, type Suppression } from "./output-shapes.js";
import { FieldError } from "./validate.js";

/** Throws FieldError at the first disagreement; `path` prefixes every field named. */
export function checkConsistency(out: AnalysisOutput, path: string): void {
  const at = (field: string) => (path ? `${path}.${field}` : field);
  const spec = out.analysis;
  // A container analysis computes its statistic itself; only a declarative one must match field by field.
  if (spec.kind !== "container") {
    if (spec.kind !== out.kind)
      throw new FieldError(at("analysis.kind"), `a ${spec.kind} analysis cannot give a ${out.kind} output`);
    if (spec.dataset !== out.dataset) throw new FieldError(at("dataset"), "differs from analysis.dataset");
  }
  const withheld = checkStatistic(out, spec, at);
  if (out.kind !== "regression") checkSuppressed(out.suppressed ?? [], withheld, at);
  if (out.kind === "count" || out.kind === "histogram" || out.kind === "crosstab") checkRounding(out, at);
}

/**
 * A `rounding` marker is a promise to the aggregator that every released count is a multiple of it
 * (so the true count is within half a step); a count that breaks it would make those bounds wrong.
 */
function checkRounding(
  out: Extract<AnalysisOutput, { kind: "count" | "histogram" | "crosstab" }>,
  at: (f: string) => string,
): void {
  const base = out.rounding;
  if (base === undefined) return;
  const values: [string, number | null][] =
    out.kind === "count"
      ? out.cells.map((c, i) => [`cells[${i}].n`, c.n])
      : out.kind === "histogram"
        ? [
            ...out.counts.map((c, i): [string, number | null] => [`counts[${i}]`, c]),
            ["below", out.below],
            ["above", out.above],
            ["missing", out.missing],
          ]
        : out.cells.flatMap((row, r) =>
            row.map((c, col): [string, number | null] => [`cells[${r}][${col}]`, c]),
          );
  for (const [p, n] of values) {
    if (n !== null && n % base !== 0)
      throw new FieldError(at(p), `must be a multiple of rounding (${base}), or null when withheld`);
  }
}

/** Checks one kind's internal consistency; returns the paths of withheld (null) values. */
function checkStatistic(out: AnalysisOutput, spec: AnalysisSpec, at: (f: string) => string): Set<string> {
  const withheld = new Set<string>();
  const same = (field: string, actual: unknown, expected: unknown) => {
    if (spec.kind === out.kind && JSON.stringify(actual) !== JSON.stringify(expected))
      throw new FieldError(at(field), `differs from the analysis (${JSON.stringify(expected)})`);
  };
  switch (out.kind) {
    case "count":
    case "summary": {
      if (spec.kind === out.kind) same("groupBy", out.groupBy, spec.groupBy ?? []);
      if (out.kind === "summary" && spec.kind === "summary") same("column", out.column, spec.column);
      if (out.groupBy.length === 0 && out.cells.length !== 1)
        throw new FieldError(at("cells"), "must hold exactly one cell when there is no groupBy");
      const seen = new Set<string>();
      out.cells.forEach((cell, i) => {
        const p = `cells[${i}]`;
        if (cell.key.length !== out.groupBy.length)
          throw new FieldError(
            at(`${p}.key`),
            `must hold ${out.groupBy.length} values, one per groupBy column`,
          );
        const k = JSON.stringify(cell.key);
        if (seen.has(k)) throw new FieldError(at(`${p}.key`), "repeats another cell's key");
        seen.add(k);
        if (cell.n === null) withheld.add(p);
      });
      if (out.kind === "summary") {
        for (const [i, cell] of out.cells.entries()) checkSummaryCell(cell, at(`cells[${i}]`));
      }
      return withheld;
    }
    case "histogram": {
      if (spec.kind === "histogram") {
        same("column", out.column, spec.column);
        same("bins", out.bins, spec.bins);
      }
      if (!(out.bins.min < out.bins.max))
        throw new FieldError(at("bins.max"), "must be greater than bins.min");
      if (out.counts.length !== out.bins.count)
        throw new FieldError(at("counts"), `must hold bins.count (${out.bins.count}) counts`);
      out.counts.forEach((c, i) => {
        if (c === null) withheld.add(`counts[${i}]`);
      });
      for (const f of ["below", "above", "missing"] as const) if (out[f] === null) withheld.add(f);
      return withheld;
    }
    case "crosstab": {
      if (spec.kind === "crosstab") {
        same("rows", out.rows, spec.rows);
        same("cols", out.cols, spec.cols);
      }
      uniqueKeys(out.rowKeys, at("rowKeys"));
      uniqueKeys(out.colKeys, at("colKeys"));
      if (out.cells.length !== out.rowKeys.length)
        throw new FieldError(at("cells"), "must hold one row per rowKeys entry");
      out.cells.forEach((row, r) => {
        if (row.length !== out.colKeys.length)
          throw new FieldError(at(`cells[${r}]`), "must hold one count per colKeys entry");
        row.forEach((c, col) => {
          if (c === null) withheld.add(`cells[${r}][${col}]`);
        });
      });
      return withheld;
    }
    case "regression": {
      if (spec.kind === "regression") {
        same("outcome", out.outcome, spec.outcome);
        same("predictors", out.predictors, spec.predictors);
        same("intercept", out.intercept, spec.intercept ?? true);
      }
      if (JSON.stringify(out.terms) !== JSON.stringify(regressionTerms(out.predictors, out.intercept)))
        throw new FieldError(
          at("terms"),
          "must be the predictors, after the intercept term when there is one",
        );
      const p = out.terms.length;
      if (out.xty.length !== p) throw new FieldError(at("xty"), `must hold ${p} values, one per term`);
      if (out.xtx.length !== p)
        throw new FieldError(at("xtx"), `must be ${p}×${p}, one row and column per term`);
      out.xtx.forEach((row, i) => {
        if (row.length !== p) throw new FieldError(at(`xtx[${i}]`), `must hold ${p} values`);
        row.forEach((x, j) => {
          if (x !== out.xtx[j]?.[i]) throw new FieldError(at(`xtx[${i}][${j}]`), "breaks symmetry");
        });
      });
      if (out.intercept && out.xtx[0]?.[0] !== out.n)
        throw new FieldError(at("xtx[0][0]"), "must equal n when there is an intercept");
      return withheld;
    }
  }
}

function checkSummaryCell(
  cell: { n: number | null; mean: number | null; variance: number | null },
  path: string,
): void {
  if (cell.n === null) {
    if (cell.mean !== null || cell.variance !== null)
      throw new FieldError(`${path}.mean`, "must be null (with variance) when n is withheld");
    return;
  }
  if ((cell.mean === null) !== (cell.n === 0))
    throw new FieldError(`${path}.mean`, "must be null exactly when n is 0");
  if ((cell.variance === null) !== cell.n < 2)
    throw new FieldError(`${path}.variance`, "must be null exactly when n is below 2");
  if (cell.variance !== null && cell.variance < 0)
    throw new FieldError(`${path}.variance`, "must not be negative");
}

function uniqueKeys(keys: KeyValue[], path: string): void {
  if (new Set(keys.map((k) => JSON.stringify(k))).size !== keys.length)
    throw new FieldError(path, "must not repeat a key");
}

function checkSuppressed(list: Suppression[], withheld: Set<string>, at: (f: string) => string): void {
  const listed = new Set<string>();
  list.forEach((s, i) => {
    if (!withheld.has(s.at))
      throw new FieldError(at(`suppressed[${i}].at`), `"${s.at}" does not name a withheld (null) value`);
    if (listed.has(s.at)) throw new FieldError(at(`suppressed[${i}].at`), `repeats "${s.at}"`);
    listed.add(s.at);
  });
  for (const p of withheld) {
    if (!listed.has(p)) throw new FieldError(at(p), "is withheld (null) but not listed in suppressed");
  }
}
