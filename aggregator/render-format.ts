/**
 * How numbers, bounds and group keys read in the aggregator's tables and charts. A bounded count is
 * never printed as a bare number it is not: "≤9" for a withheld small count, "40–44" for a rounded
 * one, "withheld" when nothing bounds it.
 */
import type { KeyValue } from "../protocol/index.js";
import type { Interval } from "./interval.js";

/** 97.5% normal quantile: the half-width of a 95% interval in standard errors. */
export const Z_95 = 1.959963984540054;

export function formatInterval(i: Interval): string {
  if (i.low === i.high) return String(i.low);
  if (i.high === Number.POSITIVE_INFINITY) return i.low === 0 ? "withheld" : `≥${i.low}`;
  if (i.low === 0) return `≤${i.high}`;
  return `${i.low}–${i.high}`;
}

/** Up to 6 significant digits, without trailing zeros or exponent noise for everyday magnitudes. */
export function formatNumber(x: number | null): string {
  if (x === null || Number.isNaN(x)) return "–";
  if (!Number.isFinite(x)) return x > 0 ? "∞" : "−∞";
  if (Number.isInteger(x) && Math.abs(x) < 1e15) return String(x);
  const abs = Math.abs(x);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return x.toExponential(4);
  return String(Number(x.toPrecision(6)));
}

/** A group key value for people: strings as they are, null as "(null)", "" as '""'. */
export function formatKeyValue(v: KeyValue): string {
  if (v === null) return "(null)";
  if (v === "") return '""';
  return String(v);
}

/** A plain-text table: numbers right-aligned, text left-aligned, a rule under the header. */
export function textTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightFrom = 0,
): string {
  const width = (s: string) => [...s].length;
  const widths = header.map((h, c) => Math.max(width(h), ...rows.map((r) => width(r[c] ?? ""))));
  const line = (cells: readonly string[]) =>
    cells
      .map((s, c) => {
        const pad = " ".repeat((widths[c] ?? 0) - width(s));
        return c >= rightFrom ? pad + s : s + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
