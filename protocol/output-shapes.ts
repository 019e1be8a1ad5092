/**
 * The shape of each kind of output description, field by field (see outputs.ts for what each
 * statistic means). Shape only: whether an output agrees with itself and with its analysis is
 * output-consistency.ts.
 */
import { analysisSpec, IDENTIFIER } from "./analysis.js";
import type { KeyValue } from "./output-keys.js";
import { arr, bool, type Check, int, literal, num, obj, optional, str, tagged } from "./validate.js";

/** Name of the constant term in a regression's `terms`. */
export const INTERCEPT_TERM = "(intercept)";

const ident = str({ min: 1, max: 63, pattern: IDENTIFIER, what: "an identifier (letters, digits, _)" });
const count = int({ min: 0, max: Number.MAX_SAFE_INTEGER });

function nullable<T>(check: Check<T>): Check<T | null> {
  return (v, path) => (v === null ? null : check(v, path));
}

const keyValue: Check<KeyValue> = (v, path) => {
  if (v === null || typeof v === "boolean") return v;
  if (typeof v === "number") return num()(v, path);
  return str({ max: 1024 })(v, path);
};
const cellKey = arr(keyValue, { max: 4 });
const withheldCount = nullable(count);

const suppression = obj({
  at: str({ min: 1, max: 32, pattern: /^[a-z]+(\[\d+\]){0,2}$/, what: "a value path like cells[3]" }),
  rule: str({ min: 1, max: 64, pattern: /^[a-z][a-z0-9_]*$/, what: "a rule name (lower case, _)" }),
  atMost: optional(count),
});
export type Suppression = { at: string; rule: string; atMost?: number };
const suppressed = optional(arr(suppression, { max: 1_000_000 }));
/** The airlock's rounding base on count-like outputs (see outputs.ts); absent means exact counts. */
const rounding = optional(int({ min: 2, max: 1000 }));

const base = { dataset: ident, analysis: analysisSpec };

const countOutput = obj({
  kind: literal("count"),
  ...base,
  groupBy: arr(ident, { max: 4 }),
  cells: arr(obj({ key: cellKey, n: withheldCount }), { min: 0, max: 100_000 }),
  suppressed,
  rounding,
});
const summaryOutput = obj({
  kind: literal("summary"),
  ...base,
  column: ident,
  groupBy: arr(ident, { max: 4 }),
  cells: arr(obj({ key: cellKey, n: withheldCount, mean: nullable(num()), variance: nullable(num()) }), {
    max: 100_000,
  }),
  suppressed,
});
const histogramOutput = obj({
  kind: literal("histogram"),
  ...base,
  column: ident,
  bins: obj({ min: num(), max: num(), count: int({ min: 1, max: 1000 }) }),
  counts: arr(withheldCount, { min: 1, max: 1000 }),
  below: withheldCount,
  above: withheldCount,
  missing: withheldCount,
  suppressed,
  rounding,
});
const crosstabOutput = obj({
  kind: literal("crosstab"),
  ...base,
  rows: ident,
  cols: ident,
  rowKeys: arr(keyValue, { max: 1000 }),
  colKeys: arr(keyValue, { max: 1000 }),
  cells: arr(arr(withheldCount, { max: 1000 }), { max: 1000 }),
  suppressed,
  rounding,
});
const regressionOutput = obj({
  kind: literal("regression"),
  ...base,
  outcome: ident,
  predictors: arr(ident, { min: 1, max: 32 }),
  intercept: bool(),
  terms: arr(str({ min: 1, max: 63 }), { min: 1, max: 33 }),
  n: count,
  dropped: count,
  xtx: arr(arr(num(), { max: 33 }), { min: 1, max: 33 }),
  xty: arr(num(), { min: 1, max: 33 }),
  yty: num(),
});

export type CountOutput = ReturnType<typeof countOutput>;
export type SummaryOutput = ReturnType<typeof summaryOutput>;
export type HistogramOutput = ReturnType<typeof histogramOutput>;
export type CrosstabOutput = ReturnType<typeof crosstabOutput>;
export type RegressionOutput = ReturnType<typeof regressionOutput>;
/** One executor output's description; `kind` says which statistic it holds. */
export type AnalysisOutput =
  | CountOutput
  | SummaryOutput
  | HistogramOutput
  | CrosstabOutput
  | RegressionOutput;
export type OutputKind = AnalysisOutput["kind"];

/** Checks any output's shape, picking the branch by `kind` so errors name the right fields. */
export const outputShape = tagged("kind", {
  count: countOutput,
  summary: summaryOutput,
  histogram: histogramOutput,
  crosstab: crosstabOutput,
  regression: regressionOutput,
}) as Check<AnalysisOutput>;

/** The regression's term names in X'X order. */
export function regressionTerms(predictors: readonly string[], intercept: boolean): string[] {
  return intercept ? [INTERCEPT_TERM, ...predictors] : [...predictors];
}
