/**
 * Counts, crosstabs and histograms combine by summing each cell across TREs. Each TRE counts its own
 * rows, so the count over all rows is the sum of the TREs' counts, exactly. A group or crosstab key
 * that a TRE did not report had no rows there (executors emit every non-empty group, and a crosstab's
 * keys are the values present), so that TRE contributes exactly 0 to it. Withheld and rounded counts
 * are intervals (interval.ts); their sums are intervals too, so the combined cell is exact only when
 * every contribution is.
 */
import {
  type CellKey,
  type CountOutput,
  type CrosstabOutput,
  compareKeys,
  compareKeyValues,
  type HistogramOutput,
  type KeyValue,
} from "../protocol/index.js";
import type {
  CountCell,
  CountResult,
  CrosstabResult,
  HistogramResult,
  TreOutput,
} from "./combined-result.js";
import { CountReader, exactly, type Interval, sumIntervals } from "./interval.js";

/** Builds one combined cell from each TRE's bounds (a TRE without the cell contributes exactly 0). */
function cell(tres: readonly string[], get: (tre: string) => Interval | undefined): CountCell {
  const byTre: Record<string, Interval> = {};
  for (const tre of tres) byTre[tre] = get(tre) ?? exactly(0);
  return { byTre, combined: sumIntervals(Object.values(byTre)) };
}

/** Says which TREs' withheld or rounded counts make combined cells bounds rather than exact values. */
function boundsNotes(cells: readonly CountCell[]): string[] {
  const inexact = cells.filter((c) => c.combined.low !== c.combined.high);
  if (inexact.length === 0) return [];
  const from = new Set<string>();
  for (const c of inexact)
    for (const [tre, i] of Object.entries(c.byTre)) if (i.low !== i.high) from.add(tre);
  return [
    `${inexact.length} of ${cells.length} combined counts are bounds, not exact: withheld or rounded at ${[...from].join(", ")}`,
  ];
}

const keyId = (key: readonly KeyValue[]): string => JSON.stringify(key);

export function combineCounts(
  parts: readonly TreOutput<CountOutput>[],
): Omit<CountResult, "dataset" | "analysis"> {
  const tres = parts.map((p) => p.tre);
  const keys = new Map<string, CellKey>();
  const values = new Map<string, Map<string, Interval>>(); // tre → key → bounds
  for (const { tre, output } of parts) {
    const reader = new CountReader(output, tre);
    const mine = new Map<string, Interval>();
    output.cells.forEach((c, i) => {
      const id = keyId(c.key);
      keys.set(id, c.key);
      mine.set(id, reader.read(c.n, `cells[${i}]`));
    });
    values.set(tre, mine);
  }
  const cells = [...keys.entries()]
    .sort((a, b) => compareKeys(a[1], b[1]))
    .map(([id, key]) => ({ key, ...cell(tres, (tre) => values.get(tre)?.get(id)) }));
  return { kind: "count", tres, notes: boundsNotes(cells), groupBy: parts[0]?.output.groupBy ?? [], cells };
}

function unionKeys(lists: readonly (readonly KeyValue[])[]): KeyValue[] {
  const all = new Map<string, KeyValue>();
  for (const list of lists) for (const k of list) all.set(JSON.stringify(k), k);
  return [...all.values()].sort(compareKeyValues);
}

export function combineCrosstabs(
  parts: readonly TreOutput<CrosstabOutput>[],
): Omit<CrosstabResult, "dataset" | "analysis"> {
  const tres = parts.map((p) => p.tre);
  const rowKeys = unionKeys(parts.map((p) => p.output.rowKeys));
  const colKeys = unionKeys(parts.map((p) => p.output.colKeys));
  // Per TRE: its bounds for (row key, col key), addressed by the union's key ids.
  const lookups = new Map<string, (r: string, c: string) => Interval | undefined>();
  for (const { tre, output } of parts) {
    const reader = new CountReader(output, tre);
    const rowAt = new Map(output.rowKeys.map((k, i) => [JSON.stringify(k), i]));
    const colAt = new Map(output.colKeys.map((k, i) => [JSON.stringify(k), i]));
    lookups.set(tre, (r, c) => {
      const ri = rowAt.get(r);
      const ci = colAt.get(c);
      if (ri === undefined || ci === undefined) return undefined;
      return reader.read(output.cells[ri]?.[ci] ?? null, `cells[${ri}][${ci}]`);
    });
  }
  const cells = rowKeys.map((rk) =>
    colKeys.map((ck) => cell(tres, (tre) => lookups.get(tre)?.(JSON.stringify(rk), JSON.stringify(ck)))),
  );
  const first = parts[0]?.output;
  return {
    kind: "crosstab",
    tres,
    notes: boundsNotes(cells.flat()),
    rows: first?.rows ?? "",
    cols: first?.cols ?? "",
    rowKeys,
    colKeys,
    cells,
  };
}

/** Histograms with identical bins (checked by the caller) add bin by bin. */
export function combineHistograms(
  parts: readonly TreOutput<HistogramOutput>[],
): Omit<HistogramResult, "dataset" | "analysis"> {
  const tres = parts.map((p) => p.tre);
  const readers = new Map(
    parts.map(({ tre, output }) => [tre, { output, reader: new CountReader(output, tre) }]),
  );
  const read = (tre: string, f: (o: HistogramOutput) => number | null, path: string) => {
    const r = readers.get(tre);
    return r ? r.reader.read(f(r.output), path) : undefined;
  };
  const first = parts[0]?.output;
  const bins = first ? { ...first.bins } : { min: 0, max: 1, count: 1 };
  const edges = Array.from({ length: bins.count + 1 }, (_, i) =>
    i === bins.count ? bins.max : bins.min + (i * (bins.max - bins.min)) / bins.count,
  );
  const counts = Array.from({ length: bins.count }, (_, i) =>
    cell(tres, (tre) => read(tre, (o) => o.counts[i] ?? null, `counts[${i}]`)),
  );
  const below = cell(tres, (tre) => read(tre, (o) => o.below, "below"));
  const above = cell(tres, (tre) => read(tre, (o) => o.above, "above"));
  const missing = cell(tres, (tre) => read(tre, (o) => o.missing, "missing"));
  const notes = boundsNotes([...counts, below, above, missing]);
  return {
    kind: "histogram",
    tres,
    notes,
    column: first?.column ?? "",
    bins,
    edges,
    counts,
    below,
    above,
    missing,
  };
}
