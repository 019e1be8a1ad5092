/**
 * The combined result as JSON for scripts (`tremesh aggregate --json`). The shape is stable: fields
 * are only ever added, and an incompatible change would change `format`.
 *
 *   {
 *     "format": "tremesh.aggregate.v1",
 *     "kind": "count" | "crosstab" | "histogram" | "summary" | "regression",
 *     "dataset": string, "analysis": {…the analysis spec…},
 *     "tres": [string…],            // the order of every byTre object
 *     "notes": [string…],           // what the combined numbers leave out
 *     …the kind's fields, exactly as the CombinedResult types in combined-result.ts:
 *     count:      groupBy, cells: [{ key, byTre: { <tre>: Interval }, combined: Interval }]
 *     crosstab:   rows, cols, rowKeys, colKeys, cells[r][c]: { byTre, combined }
 *     histogram:  column, bins, edges, counts: [{ byTre, combined }], below, above, missing
 *     summary:    column, groupBy, cells: [{ key, byTre: { <tre>: { n: Interval, mean, variance, withheld } },
 *                                           combined: { n: Interval, mean, variance, leftOut } }]
 *     regression: outcome, predictors, intercept, terms, n, dropped,
 *                 combined: Fit, byTre: { <tre>: { n, dropped, fit: Fit | null, problem } }
 *                 Fit = { n, df, coefficients: [{ term, estimate, se, t }], rss, sigma2, r2 }
 *   }
 *
 * An Interval is `{ "low": number, "high": number | null }`: exact when low equals high, and `high`
 * null when nothing bounds the count (a withheld value without an upper bound). Absent statistics
 * (a mean of no rows, a standard error without residual degrees of freedom) are null.
 */
import type { TreFile } from "./collect-results.js";
import type { CombinedResult } from "./combined-result.js";

export const AGGREGATE_JSON_FORMAT = "tremesh.aggregate.v1";

/**
 * The result as indented JSON text, non-finite numbers written as null.
 *
 * @example
 * const parsed = JSON.parse(toJson(result)); // parsed.cells[0].combined.high may be null: unbounded
 */
export function toJson(result: CombinedResult): string {
  const { kind, ...rest } = result;
  return JSON.stringify({ format: AGGREGATE_JSON_FORMAT, kind, ...rest }, finite, 2);
}

// JSON.stringify writes Infinity and NaN as null already; saying so here keeps that a decision, not an accident.
function finite(_key: string, v: unknown): unknown {
  return typeof v === "number" && !Number.isFinite(v) ? null : v;
}

/**
 * A released file as `aggregate --json` (top-level `files`) and `results --json` (per TRE) list it: what
 * identifies its bytes, never the bytes (`--save-files DIR` writes those). Released files are not combined,
 * so they sit beside the combined results, not inside one. Fields are only ever added.
 *
 *   { "tre": string, "outputId": string, "name": string,   // name: as the TRE gave it, untrusted
 *     "mediaType": string, "bytes": number, "sha256": string, "autoReleased": boolean }
 *
 * @example
 * const listed = r.files.map(fileJson); // [{ tre: "north", name: "table.csv", mediaType: "text/csv", … }]
 */
export function fileJson(f: TreFile) {
  return {
    tre: f.tre,
    outputId: f.outputId,
    name: f.name,
    mediaType: f.mediaType,
    bytes: f.data.length,
    sha256: f.digest,
    autoReleased: f.autoReleased,
  };
}
