/**
 * Combining one analysis's outputs across TREs. Outputs are combined only when they provably answer
 * the same question: the same kind, the same analysis spec (dataset, filters, columns, bins…) and the
 * same statistic layout. Anything else is a CombineError naming the TRE that differs, because summing
 * counts of two different questions gives a number that means nothing and looks plausible.
 *
 * The maths per kind: combine-counts.ts (count, crosstab, histogram), combine-summary.ts,
 * combine-regression.ts.
 */
import type { AnalysisOutput } from "../protocol/index.js";
import { combineCounts, combineCrosstabs, combineHistograms } from "./combine-counts.js";
import { CombineError, CombineErrorCode } from "./combine-error.js";
import { combineRegressions } from "./combine-regression.js";
import { combineSummaries } from "./combine-summary.js";
import type { CombinedResult, TreOutput } from "./combined-result.js";
import type { VerifiedRelease } from "./verify-release.js";

/** JSON with object keys sorted, so two specs compare equal whatever order their fields came in. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The fields, per kind, that fix a statistic's layout beyond the analysis spec (container analyses set them freely). */
function layout(o: AnalysisOutput): Record<string, unknown> {
  switch (o.kind) {
    case "count":
      return { groupBy: o.groupBy };
    case "summary":
      return { column: o.column, groupBy: o.groupBy };
    case "histogram":
      return { column: o.column, bins: o.bins };
    case "crosstab":
      return { rows: o.rows, cols: o.cols };
    case "regression":
      return { outcome: o.outcome, predictors: o.predictors, intercept: o.intercept, terms: o.terms };
  }
}

function checkSameQuestion(parts: readonly TreOutput[]): AnalysisOutput {
  const first = parts[0];
  if (!first) throw new CombineError(CombineErrorCode.noOutputs, "no outputs to combine");
  const seen = new Set<string>();
  const spec = canonical(first.output.analysis);
  const shape = layout(first.output);
  for (const { tre, output } of parts) {
    if (seen.has(tre))
      throw new CombineError(CombineErrorCode.duplicateTre, `${tre} has more than one output`, { tre });
    seen.add(tre);
    if (output.kind !== first.output.kind)
      throw new CombineError(
        CombineErrorCode.kindMismatch,
        `${tre} gave a ${output.kind} output, ${first.tre} a ${first.output.kind}`,
        { tre, field: "kind" },
      );
    if (output.dataset !== first.output.dataset || canonical(output.analysis) !== spec)
      throw new CombineError(
        CombineErrorCode.analysisMismatch,
        `${tre} answered another analysis than ${first.tre}`,
        { tre, field: output.dataset !== first.output.dataset ? "dataset" : "analysis" },
      );
    const mine = layout(output);
    for (const [field, value] of Object.entries(shape)) {
      if (canonical(mine[field]) !== canonical(value))
        throw new CombineError(
          CombineErrorCode.shapeMismatch,
          `${tre}'s ${field} ${canonical(mine[field])} differs from ${first.tre}'s ${canonical(value)}`,
          { tre, field },
        );
    }
  }
  return first.output;
}

function ofKind<K extends AnalysisOutput["kind"]>(
  parts: readonly TreOutput[],
  kind: K,
): TreOutput<Extract<AnalysisOutput, { kind: K }>>[] {
  return parts.filter((p): p is TreOutput<Extract<AnalysisOutput, { kind: K }>> => p.output.kind === kind);
}

/**
 * Combines per-TRE outputs answering the same analysis. Throws CombineError when they do not, or when
 * a pooled regression cannot be fitted.
 *
 * @example
 * const result = combineOutputs([{ tre: "north", output: a }, { tre: "south", output: b }]);
 * console.log(renderTables(result));
 */
export function combineOutputs(parts: readonly TreOutput[]): CombinedResult {
  const first = checkSameQuestion(parts);
  const base = { dataset: first.dataset, analysis: first.analysis };
  switch (first.kind) {
    case "count":
      return { ...base, ...combineCounts(ofKind(parts, "count")) };
    case "crosstab":
      return { ...base, ...combineCrosstabs(ofKind(parts, "crosstab")) };
    case "histogram":
      return { ...base, ...combineHistograms(ofKind(parts, "histogram")) };
    case "summary":
      return { ...base, ...combineSummaries(ofKind(parts, "summary")) };
    case "regression":
      return { ...base, ...combineRegressions(ofKind(parts, "regression")) };
  }
}

/** Groups accepted Releases' outputs by output name (`count.json`…): each group is one combinable set. */
export function outputsByName(releases: readonly VerifiedRelease[]): Map<string, TreOutput[]> {
  const groups = new Map<string, TreOutput[]>();
  for (const r of releases)
    for (const o of r.outputs)
      groups.set(o.name, [...(groups.get(o.name) ?? []), { tre: r.tre, output: o.output }]);
  return groups;
}
