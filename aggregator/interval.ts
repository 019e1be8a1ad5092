/**
 * What a released count says about the true count: an interval, exact when both ends agree. The
 * airlock may withhold a count (null, with an `atMost` bound when its rule gives one) or round every
 * count to a base; either way the aggregator carries the bounds through every sum instead of reading a
 * withheld value as 0 or a rounded value as exact.
 */
import type { AnalysisOutput, Suppression } from "../protocol/index.js";
import { CombineError, CombineErrorCode } from "./combine-error.js";

/** Bounds on a true count: `low ≤ n ≤ high`; `high` is Infinity when nothing bounds it (null in JSON). */
export interface Interval {
  low: number;
  high: number;
}

export function exactly(n: number): Interval {
  return { low: n, high: n };
}

function addIntervals(a: Interval, b: Interval): Interval {
  return { low: a.low + b.low, high: a.high + b.high };
}

export function sumIntervals(items: Iterable<Interval>): Interval {
  let total = exactly(0);
  for (const i of items) total = addIntervals(total, i);
  return total;
}

/**
 * The output's rounding base, 1 when counts are exact: every non-null count is then a multiple of it,
 * within ±floor(base/2) of the true count. Checked here too, since outputs built in code reach
 * `combineOutputs` without passing the protocol's validator.
 */
function roundingOf(output: AnalysisOutput, tre: string): number {
  const base = (output as { rounding?: unknown }).rounding;
  if (base === undefined) return 1;
  if (typeof base !== "number" || !Number.isSafeInteger(base) || base < 1)
    throw new CombineError(CombineErrorCode.badRounding, `${tre}: rounding must be a positive integer`, {
      tre,
      field: "rounding",
    });
  return base;
}

/** Reads released counts of one output as intervals. */
export class CountReader {
  readonly #suppressed: Map<string, Suppression>;
  readonly #halfBase: number;

  constructor(output: Exclude<AnalysisOutput, { kind: "regression" }>, tre: string) {
    this.#suppressed = new Map((output.suppressed ?? []).map((s) => [s.at, s]));
    this.#halfBase = Math.floor(roundingOf(output, tre) / 2);
  }

  /** The bounds on the count at `path` (`cells[3]`, `below`…), whose released value is `value`. */
  read(value: number | null, path: string): Interval {
    if (value === null) {
      // The validator guarantees a listed suppression; a missing one still must not read as 0.
      const atMost = this.#suppressed.get(path)?.atMost;
      return { low: 0, high: atMost ?? Number.POSITIVE_INFINITY };
    }
    return { low: Math.max(0, value - this.#halfBase), high: value + this.#halfBase };
  }
}
