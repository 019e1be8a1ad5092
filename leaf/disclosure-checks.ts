/**
 * The airlock's automated statistical disclosure control: each output is judged against the TRE's
 * rules (disclosure-rules.ts) and gets pass / review / fail with one finding per problem, plus the
 * form a reviewer could release.
 *
 * Approach:
 * - Checks run on the exact counts the executor produced, never on rounded ones: a cell of 8 must fail
 *   a minimum of 10 even though it would round to 10.
 * - Failing cells are withheld (null plus a `suppressed` entry) rather than the whole output, so a
 *   table with one small cell is still useful. `atMost` tells the aggregator the withheld count is
 *   below the minimum without saying what it is.
 * - Rounding belongs to the releasable form, not to the checks: it is what makes the released counts
 *   safe against differencing (two near-identical queries whose difference isolates a person), which
 *   no per-cell threshold can see. The output records the base (`rounding`), so the aggregator can
 *   carry the ±floor(base/2) uncertainty honestly.
 * - A regression's statistics are sums over all its rows at once: there is no cell to withhold, and
 *   X'X, X'y and n only make sense together. It is released whole or withheld whole.
 * - Dominance needs the largest values of each summary cell, which only the executor saw. They come
 *   as private facts beside the output; without them the check cannot run and the output goes to a
 *   reviewer ("unchecked") rather than passing silently.
 * Details name only what the output itself shows (its counts, n and terms), never a private fact.
 */
import type { DisclosureFacts, DominanceFact } from "../executors/index.js";
import {
  type AnalysisOutput,
  analysisOutput,
  type RegressionOutput,
  type Suppression,
} from "../protocol/index.js";
import { type CellOutput, type CountSlot, countSlots, roundCount } from "./disclosure-cells.js";
import type { DisclosureRules } from "./disclosure-rules.js";

export type CheckOutcome = "pass" | "review" | "fail";

export interface Finding {
  /** Value path as in Suppression.at ("cells[3]", "counts[2]", "below", "cells[1][4]", "n"), or "" for the whole output. */
  at: string;
  rule: "min_cell" | "zero" | "dominance" | "residual_df" | "unchecked";
  outcome: "review" | "fail";
  /** For the reviewer; never more raw data than the output itself shows. */
  detail: string;
}

export interface DisclosureReport {
  /** fail if any finding fails, else review if any asks for review, else pass. */
  outcome: CheckOutcome;
  findings: Finding[];
  /** The rules applied, recorded with the report. */
  rules: DisclosureRules;
  /**
   * The form a reviewer can release: failing cells withheld (null, with `suppressed` entries), the
   * remaining counts of a count, histogram or crosstab rounded to `roundingBase` (with `rounding`
   * set) when it is above 1. Absent when no form is safe: a regression that fails. For a pass it is
   * the rounded form, identical to the input when roundingBase is 1.
   */
  releasable?: AnalysisOutput;
}

/**
 * Checks one output. `facts` are the executor's private facts for it (dominance for summaries).
 * Expects an executor's output; one that already carries `rounding` is not rounded a second time,
 * since that would widen the error beyond what the marker promises.
 *
 * @example
 * const report = checkOutput(output.description, rules, output.facts);
 * report.outcome; // "fail"
 * report.findings; // [{ at: "cells[2]", rule: "min_cell", outcome: "fail", detail: "n = 3 is below …" }]
 */
export function checkOutput(
  output: AnalysisOutput,
  rules: DisclosureRules,
  facts?: DisclosureFacts,
): DisclosureReport {
  const { findings, releasable } =
    output.kind === "regression" ? checkRegression(output, rules) : checkCells(output, rules, facts);
  const outcome: CheckOutcome = findings.some((f) => f.outcome === "fail")
    ? "fail"
    : findings.length > 0
      ? "review"
      : "pass";
  return releasable === undefined ? { outcome, findings, rules } : { outcome, findings, rules, releasable };
}

interface Checked {
  findings: Finding[];
  releasable: AnalysisOutput | undefined;
}

function checkCells(output: CellOutput, rules: DisclosureRules, facts: DisclosureFacts | undefined): Checked {
  const copy = structuredClone(output);
  const findings: Finding[] = [];
  const suppressed: Suppression[] = [...(copy.suppressed ?? [])];
  const bound = rules.minCellCount - 1;
  // A bound of 0 would say the withheld count is zero, the very thing the zero rule hides.
  const atMost = bound > 0 ? { atMost: bound } : {};
  const label = copy.kind === "count" || copy.kind === "summary" ? "n" : "count";
  const slots = countSlots(copy);
  for (const slot of slots) {
    const n = slot.n;
    if (n === null) continue;
    let rule: "zero" | "min_cell" | undefined;
    if (n === 0 && rules.zerosDisclosive && !slot.structuralZero) {
      rule = "zero";
      findings.push(fail(slot.at, rule, `${label} = 0: a zero shows that no one falls in this cell`));
    } else if (n > 0 && n < rules.minCellCount) {
      rule = "min_cell";
      findings.push(
        fail(slot.at, rule, `${label} = ${n} is below the minimum cell count ${rules.minCellCount}`),
      );
    }
    if (rule === undefined) continue;
    slot.withhold();
    suppressed.push({ at: slot.at, rule, ...atMost });
  }
  if (copy.kind === "summary") {
    const withheld = new Set(suppressed.map((s) => s.at));
    for (const slot of checkDominance(slots, withheld, rules, facts, findings)) {
      slot.withhold();
      suppressed.push({ at: slot.at, rule: "dominance" });
    }
  }
  if (suppressed.length > 0) copy.suppressed = suppressed;
  if (copy.kind !== "summary" && rules.roundingBase > 1 && copy.rounding === undefined) {
    for (const slot of countSlots(copy))
      if (slot.n !== null) slot.set(roundCount(slot.n, rules.roundingBase));
    copy.rounding = rules.roundingBase;
  }
  return { findings, releasable: analysisOutput(copy, "") };
}

/**
 * Adds dominance findings for a summary's cells; returns the slots still released that it fails.
 * Cells a count rule already withholds are checked too (the reviewer sees every reason) but keep
 * that rule's entry, whose bound says more. Empty cells have nothing to dominate.
 */
function checkDominance(
  slots: CountSlot[],
  withheld: ReadonlySet<string>,
  rules: DisclosureRules,
  facts: DisclosureFacts | undefined,
  findings: Finding[],
): CountSlot[] {
  const cells = slots.filter((s) => s.n !== null && s.n > 0);
  const released = (s: CountSlot) => !withheld.has(s.at);
  if (facts?.dominance === undefined) {
    if (cells.some(released))
      findings.push(review("", "dominance could not be checked: no dominance facts came with this summary"));
    return [];
  }
  const byAt = new Map(facts.dominance.map((f) => [f.at, f]));
  const { n, k } = rules.dominance;
  const failing: CountSlot[] = [];
  for (const slot of cells) {
    const fact = byAt.get(slot.at);
    if (fact === undefined) {
      if (released(slot))
        findings.push(
          review(slot.at, "dominance could not be checked: no dominance fact came for this cell"),
        );
    } else if (dominated(fact, rules)) {
      findings.push(
        fail(
          slot.at,
          "dominance",
          `the ${n} largest contribution(s) make up more than ${+(k * 100).toPrecision(12)}% of the cell total ` +
            `(dominance rule n = ${n}, k = ${k})`,
        ),
      );
      if (released(slot)) failing.push(slot);
    }
  }
  return failing;
}

/** The dominance rule (n, k): the n largest |v| make up more than k of the total; an empty cell passes. */
function dominated(fact: DominanceFact, rules: DisclosureRules): boolean {
  if (!(fact.total > 0)) return false;
  const largest = fact.top.slice(0, rules.dominance.n).reduce((s, x) => s + Math.abs(x), 0);
  return largest > rules.dominance.k * fact.total;
}

function checkRegression(output: RegressionOutput, rules: DisclosureRules): Checked {
  const findings: Finding[] = [];
  const { n } = output;
  if (n === 0 && rules.zerosDisclosive)
    findings.push(fail("n", "zero", "n = 0: no row has the outcome and every predictor"));
  else if (n > 0 && n < rules.minCellCount)
    findings.push(fail("n", "min_cell", `n = ${n} is below the minimum cell count ${rules.minCellCount}`));
  const p = output.terms.length;
  if (n - p < rules.minResidualDf)
    findings.push(
      fail(
        "",
        "residual_df",
        `residual degrees of freedom n − terms = ${n} − ${p} = ${n - p} is below the minimum ${rules.minResidualDf}`,
      ),
    );
  return {
    findings,
    releasable: findings.length > 0 ? undefined : analysisOutput(structuredClone(output), ""),
  };
}

function fail(at: string, rule: Finding["rule"], detail: string): Finding {
  return { at, rule, outcome: "fail", detail };
}

function review(at: string, detail: string): Finding {
  return { at, rule: "unchecked", outcome: "review", detail };
}
