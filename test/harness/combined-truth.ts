/**
 * Checks a combined result (as `tremesh aggregate --json` prints it) against the statistic computed
 * directly on the union of every TRE's rows: each count's bounds contain the true count (and equal it
 * when `exact`), pooled means and variances equal the truth to 1e-9 relative wherever no TRE withheld
 * the group, and the pooled regression equals a fit on the union's sufficient statistics.
 */
import { expect } from "vitest";
import { fitFromSufficient } from "../../aggregator/combine-regression.js";
import type { AnalysisOutput, KeyValue } from "../../protocol/index.js";

interface Bounds {
  low: number;
  high: number | null;
}
type Json = Record<string, unknown>;

const REL = 1e-9;

function close(actual: number | null, expected: number | null, what: string): void {
  if (expected === null) return void expect(actual, what).toBeNull();
  expect(actual, what).not.toBeNull();
  const scale = Math.max(Math.abs(expected), 1e-300);
  expect(
    Math.abs((actual as number) - expected) / scale,
    `${what}: ${actual} vs ${expected}`,
  ).toBeLessThanOrEqual(REL);
}

function holds(b: Bounds, truth: number, exact: boolean, what: string): void {
  expect(b.low, `${what} low`).toBeLessThanOrEqual(truth);
  if (b.high !== null) expect(b.high, `${what} high`).toBeGreaterThanOrEqual(truth);
  if (exact) expect([b.low, b.high], what).toEqual([truth, truth]);
}

const keyOf = (k: readonly KeyValue[]) => JSON.stringify(k);

/** Returns how many values were checked (so a caller can assert something was). */
export function expectMatchesTruth(
  result: Json,
  truth: AnalysisOutput,
  { exact }: { exact: boolean },
): number {
  let checked = 0;
  switch (truth.kind) {
    case "count": {
      const cells = new Map((result.cells as Json[]).map((c) => [keyOf(c.key as KeyValue[]), c]));
      for (const t of truth.cells) {
        const c = cells.get(keyOf(t.key));
        expect(c, `group ${keyOf(t.key)}`).toBeDefined();
        holds(c!.combined as Bounds, t.n!, exact, `count ${keyOf(t.key)}`);
        checked++;
      }
      break;
    }
    case "crosstab": {
      const rows = (result.rowKeys as KeyValue[]).map((k) => keyOf([k]));
      const cols = (result.colKeys as KeyValue[]).map((k) => keyOf([k]));
      truth.rowKeys.forEach((rk, i) => {
        truth.colKeys.forEach((ck, j) => {
          const r = rows.indexOf(keyOf([rk]));
          const c = cols.indexOf(keyOf([ck]));
          expect(r >= 0 && c >= 0, `crosstab key ${rk}/${ck}`).toBe(true);
          const cell = (result.cells as Json[][])[r]![c]!;
          holds(cell.combined as Bounds, truth.cells[i]![j]!, exact, `crosstab ${rk}/${ck}`);
          checked++;
        });
      });
      break;
    }
    case "histogram": {
      truth.counts.forEach((n, i) => {
        holds((result.counts as Json[])[i]!.combined as Bounds, n!, exact, `bin ${i}`);
        checked++;
      });
      for (const tail of ["below", "above", "missing"] as const) {
        holds((result[tail] as Json).combined as Bounds, truth[tail]!, exact, tail);
        checked++;
      }
      break;
    }
    case "summary": {
      const cells = new Map((result.cells as Json[]).map((c) => [keyOf(c.key as KeyValue[]), c]));
      for (const t of truth.cells) {
        const combined = cells.get(keyOf(t.key))!.combined as {
          n: Bounds;
          mean: number | null;
          variance: number | null;
          leftOut: string[];
        };
        holds(combined.n, t.n!, exact, `summary n ${keyOf(t.key)}`);
        if (combined.leftOut.length === 0) {
          close(combined.mean, t.mean, `mean ${keyOf(t.key)}`);
          close(combined.variance, t.variance, `variance ${keyOf(t.key)}`);
        }
        checked++;
      }
      break;
    }
    case "regression": {
      const expected = fitFromSufficient(truth);
      const fit = result.combined as {
        n: number;
        coefficients: { term: string; estimate: number; se: number | null }[];
      };
      expect(fit.n).toBe(truth.n);
      expected.coefficients.forEach((c, i) => {
        close(fit.coefficients[i]!.estimate, c.estimate, `estimate ${c.term}`);
        close(fit.coefficients[i]!.se, c.se, `se ${c.term}`);
        checked++;
      });
      break;
    }
  }
  return checked;
}
