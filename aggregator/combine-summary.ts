/**
 * Pooled n, mean and sample variance per group from each TRE's (n, mean, variance), exactly as if
 * computed over all rows together:
 *
 *   N = Σ nᵢ,   M = (Σ nᵢ·meanᵢ) / N,
 *   total SS = Σ (nᵢ − 1)·varᵢ  +  Σ nᵢ·(meanᵢ − M)²     (within + between),
 *   variance = total SS / (N − 1).
 *
 * This is the law of total variance for sums of squares about the mean. It never forms Σx², whose
 * difference with N·M² would cancel away most digits when the mean is large beside the spread.
 *
 * A group that some TRE withheld is pooled over the others; the cell names the TREs left out and its
 * n becomes an interval (their `atMost` bounds, or unbounded). A TRE without the group had no rows in
 * it and contributes exactly nothing.
 */
import { type CellKey, compareKeys, type SummaryOutput } from "../protocol/index.js";
import type { SummaryCell, SummaryResult, SummaryStat, TreOutput } from "./combined-result.js";
import { exactly, type Interval, sumIntervals } from "./interval.js";

interface Released {
  n: number;
  mean: number | null;
  variance: number | null;
}

/** Pools released (n, mean, variance) triples; mean null when N is 0, variance when N < 2. */
function poolSummaries(parts: readonly Released[]): Released {
  const used = parts.filter((p): p is Released & { mean: number } => p.n > 0 && p.mean !== null);
  const n = used.reduce((s, p) => s + p.n, 0);
  if (n === 0) return { n: 0, mean: null, variance: null };
  const mean = used.reduce((s, p) => s + p.n * p.mean, 0) / n;
  if (n < 2) return { n, mean, variance: null };
  let ss = 0;
  for (const p of used) ss += (p.n - 1) * (p.variance ?? 0) + p.n * (p.mean - mean) ** 2;
  return { n, mean, variance: ss / (n - 1) };
}

export function combineSummaries(
  parts: readonly TreOutput<SummaryOutput>[],
): Omit<SummaryResult, "dataset" | "analysis"> {
  const tres = parts.map((p) => p.tre);
  const keys = new Map<string, CellKey>();
  const byTre = new Map<string, Map<string, SummaryStat & { withheld: boolean }>>();
  for (const { tre, output } of parts) {
    const atMost = new Map((output.suppressed ?? []).map((s) => [s.at, s.atMost]));
    const mine = new Map<string, SummaryStat & { withheld: boolean }>();
    output.cells.forEach((c, i) => {
      const id = JSON.stringify(c.key);
      keys.set(id, c.key);
      mine.set(
        id,
        c.n === null
          ? {
              n: { low: 0, high: atMost.get(`cells[${i}]`) ?? Number.POSITIVE_INFINITY },
              mean: null,
              variance: null,
              withheld: true,
            }
          : { n: exactly(c.n), mean: c.mean, variance: c.variance, withheld: false },
      );
    });
    byTre.set(tre, mine);
  }

  const notes: string[] = [];
  const cells = [...keys.entries()]
    .sort((a, b) => compareKeys(a[1], b[1]))
    .map(([id, key]): SummaryCell => {
      const row: SummaryCell["byTre"] = {};
      for (const tre of tres)
        row[tre] = byTre.get(tre)?.get(id) ?? { n: exactly(0), mean: null, variance: null, withheld: false };
      const stats = tres.map((tre) => ({ tre, stat: row[tre] ?? null }));
      const leftOut = stats.filter((s) => s.stat?.withheld).map((s) => s.tre);
      const pooled = poolSummaries(
        stats
          .filter((s) => s.stat && !s.stat.withheld)
          .map((s) => ({
            n: s.stat?.n.low ?? 0,
            mean: s.stat?.mean ?? null,
            variance: s.stat?.variance ?? null,
          })),
      );
      const n: Interval = sumIntervals(stats.map((s) => s.stat?.n ?? exactly(0)));
      if (leftOut.length > 0)
        notes.push(
          `${describeKey(parts[0]?.output.groupBy ?? [], key)}: mean and variance pooled without ${leftOut.join(", ")} (withheld there)`,
        );
      return { key, byTre: row, combined: { n, mean: pooled.mean, variance: pooled.variance, leftOut } };
    });
  return {
    kind: "summary",
    tres,
    column: parts[0]?.output.column ?? "",
    groupBy: parts[0]?.output.groupBy ?? [],
    cells,
    notes,
  };
}

function describeKey(groupBy: readonly string[], key: CellKey): string {
  if (groupBy.length === 0) return "all rows";
  return groupBy.map((g, i) => `${g}=${JSON.stringify(key[i] ?? null)}`).join(", ");
}
