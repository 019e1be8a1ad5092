/**
 * The count values of an output, each named by its value path (the paths `suppressed` entries use)
 * and changeable in place. The disclosure checks walk every count the same way whatever the kind, so
 * a rule written once covers count cells, summary n, histogram bins and crosstab cells alike.
 */
import type { AnalysisOutput } from "../protocol/index.js";

/** An output that holds counts cell by cell (a regression is judged whole instead). */
export type CellOutput = Exclude<AnalysisOutput, { kind: "regression" }>;

export interface CountSlot {
  /** Value path: "cells[3]", "counts[2]", "below", "cells[1][4]". */
  at: string;
  /** The count, or null when already withheld. */
  n: number | null;
  /** Replaces the count (rounding). */
  set(n: number): void;
  /** Withholds the value: null in place of the count (and, for a summary cell, of mean and variance). */
  withhold(): void;
  /**
   * A histogram's `below`, `above` and `missing`: a zero there is structural (the researcher chose a range
   * covering every value; a column with no nulls), not a fact about a group of people, so the zero rule
   * leaves it alone. Counts from 1 to the minimum still fail.
   */
  structuralZero?: boolean;
}

/** Every count of `out`, in document order; the slots write into `out` itself. */
export function countSlots(out: CellOutput): CountSlot[] {
  switch (out.kind) {
    case "count":
      return out.cells.map((cell, i) => ({
        at: `cells[${i}]`,
        n: cell.n,
        set: (n) => {
          cell.n = n;
        },
        withhold: () => {
          cell.n = null;
        },
      }));
    case "summary":
      return out.cells.map((cell, i) => ({
        at: `cells[${i}]`,
        n: cell.n,
        set: (n) => {
          cell.n = n;
        },
        // The protocol requires all three null together: a mean with n withheld still discloses.
        withhold: () => {
          cell.n = null;
          cell.mean = null;
          cell.variance = null;
        },
      }));
    case "histogram": {
      const bins = out.counts.map(
        (c, i): CountSlot => ({
          at: `counts[${i}]`,
          n: c,
          set: (n) => {
            out.counts[i] = n;
          },
          withhold: () => {
            out.counts[i] = null;
          },
        }),
      );
      const tails = (["below", "above", "missing"] as const).map(
        (f): CountSlot => ({
          at: f,
          n: out[f],
          structuralZero: true,
          set: (n) => {
            out[f] = n;
          },
          withhold: () => {
            out[f] = null;
          },
        }),
      );
      return [...bins, ...tails];
    }
    case "crosstab":
      return out.cells.flatMap((row, r) =>
        row.map(
          (c, col): CountSlot => ({
            at: `cells[${r}][${col}]`,
            n: c,
            set: (n) => {
              row[col] = n;
            },
            withhold: () => {
              row[col] = null;
            },
          }),
        ),
      );
  }
}

/** `n` rounded to the nearest multiple of `base`, ties away from zero (counts are never negative). */
export function roundCount(n: number, base: number): number {
  const rest = n % base;
  return rest * 2 >= base ? n - rest + base : n - rest;
}
