/**
 * The machine-readable description of one executor output: what the airlock's disclosure checks, the
 * reviewers and the researcher's aggregator read. One JSON document per output (UTF-8; JSON rather than
 * msgpack because people review it), discriminated on `kind`, carrying exactly the statistics needed
 * to combine results across TREs without loss:
 *
 * - count: one cell per group, `{ key, n }`; no groupBy gives one cell with key `[]`.
 * - summary: per group `{ key, n, mean, variance }` over the non-null values of `column`; `variance`
 *   is the sample variance (n−1), null when n < 2; `mean` is null when n = 0. Pooled n, mean and
 *   variance follow exactly from these.
 * - histogram: `counts[i]` counts values v with min ≤ v ≤ max whose bin is
 *   `min(count − 1, floor((v − min) · count / (max − min)))` computed in IEEE double: half-open bins
 *   [edge_i, edge_i+1), except that the last bin also holds `max`. `below` counts v < min, `above`
 *   v > max, `missing` nulls.
 * - crosstab: `cells[r][c]` counts rows with rows-column value `rowKeys[r]` and cols-column value
 *   `colKeys[c]`, zero cells included.
 * - regression: sufficient statistics of the linear model outcome ~ predictors over the rows where
 *   the outcome and every predictor are non-null (the others are counted in `dropped`): `terms` in
 *   X'X order ("(intercept)" first when on), `xtx` (full symmetric matrix), `xty`, `yty` and `n`.
 *
 * Group keys hold one value per group-by column; null is a group of its own. Cells come in
 * `compareKeys` order. Every output carries `dataset` and `analysis`, the spec it answers.
 *
 * Extension point, suppression (set by the airlock, never by an executor): a withheld count is `null`
 * in place of its number (for a summary cell, `n`, `mean` and `variance` are all null), and the
 * output's `suppressed` list names each withheld value by its path (`cells[3]`, `counts[2]`, `below`,
 * `cells[1][4]`) with the rule that withheld it and, where the rule gives one, an inclusive upper
 * bound `atMost` on the true count. The validator already enforces that nulls and that list agree, so
 * a withheld value can never be read as 0 by mistake. Regression outputs are released or withheld
 * whole, so they have no `suppressed` list.
 *
 * Extension point, rounding (set by the airlock, never by an executor): a count, histogram or crosstab
 * output may carry `rounding`, an integer from 2 to 1000. Then every count in it that is not withheld
 * (null) is the true count rounded to the nearest multiple of `rounding` (ties away from zero), so the
 * true count lies within ±floor(rounding / 2) of the released one (and is ≥ 0). The validator enforces
 * that every non-null count is such a multiple. Summary `n` and regression values are never rounded:
 * the mean and variance are computed from the exact n, and rounding n alone would only misstate them.
 */
import { checkConsistency } from "./output-consistency.js";
import { type AnalysisOutput, outputShape } from "./output-shapes.js";
import { type Check, FieldError } from "./validate.js";

export { type CellKey, compareKeys, compareKeyValues, type KeyValue } from "./output-keys.js";
export {
  type AnalysisOutput,
  type CountOutput,
  type CrosstabOutput,
  type HistogramOutput,
  INTERCEPT_TERM,
  type OutputKind,
  type RegressionOutput,
  regressionTerms,
  type SummaryOutput,
  type Suppression,
} from "./output-shapes.js";

/** Media type of the JSON bytes an executor emits; the version changes only on an incompatible change. */
export const OUTPUT_MEDIA_TYPE = "application/vnd.tremesh.output.v1+json";
/** Largest output document `decodeOutput` accepts by default: 16 MiB. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/**
 * Validates an output description: its shape, and that it agrees with itself and with the analysis it
 * answers (key lengths, matrix sizes, bins, terms, suppression list). Throws FieldError naming the field.
 */
export const analysisOutput: Check<AnalysisOutput> = (v, path) => {
  const out = outputShape(v, path);
  checkConsistency(out, path);
  return out;
};

/** Validates and encodes an output as UTF-8 JSON, laid out for a reviewer (short arrays on one line). */
export function encodeOutput(output: AnalysisOutput): Uint8Array {
  return new TextEncoder().encode(`${layout(analysisOutput(output, ""), "")}\n`);
}

/** Decodes and validates output bytes; throws FieldError (path "" for bytes that are not JSON at all). */
export function decodeOutput(
  bytes: Uint8Array,
  { maxBytes = DEFAULT_MAX_OUTPUT_BYTES }: { maxBytes?: number } = {},
): AnalysisOutput {
  if (bytes.length > maxBytes)
    throw new FieldError("", `is ${bytes.length} bytes, over the ${maxBytes} limit`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new FieldError("", "is not UTF-8 JSON");
  }
  return analysisOutput(value, "");
}

function layout(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    if (value.every((x) => x === null || typeof x !== "object"))
      return `[${value.map((x) => JSON.stringify(x)).join(", ")}]`;
    const inner = `${indent}  `;
    return `[\n${value.map((x) => inner + layout(x, inner)).join(",\n")}\n${indent}]`;
  }
  if (value !== null && typeof value === "object") {
    const inner = `${indent}  `;
    const pairs = Object.entries(value).map(([k, x]) => `${JSON.stringify(k)}: ${layout(x, inner)}`);
    const oneLine = `{ ${pairs.join(", ")} }`;
    if (pairs.length === 0) return "{}";
    if (!oneLine.includes("\n") && oneLine.length + indent.length <= 100) return oneLine;
    return `{\n${pairs.map((p) => inner + p).join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}
