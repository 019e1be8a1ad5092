/**
 * CSV for scripts: a header line, then one row per cell (or regression term) per TRE, then the
 * combined row, with `source` holding the TRE name or `combined`. Counts are always two columns,
 * `low` and `high` (equal when exact; `high` empty when unbounded), so a script cannot mistake a
 * withheld count for a number. Columns per kind:
 *
 * - count:     <groupBy columns…>, source, low, high
 * - crosstab:  <rows column>, <cols column>, source, low, high
 * - histogram: bin (index, or below/above/missing), bin_start, bin_end, source, low, high
 * - summary:   <groupBy columns…>, source, n_low, n_high, mean, variance, left_out (TREs, ";"-separated)
 * - regression: term, source, n, estimate, se, t, df, sigma2, r2
 *
 * Numbers are written in full precision; an absent value is an empty field. A null group key is an
 * empty field and an empty-string key is `""`, so the two stay apart. Lines end in "\n". Values are
 * written as they are (no spreadsheet formula escaping): the file is for programs.
 */
import type { KeyValue } from "../protocol/index.js";
import type { CombinedResult, CountCell } from "./combined-result.js";
import type { Interval } from "./interval.js";

type Field = string | number | boolean | null;

function field(v: Field): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  if (typeof v === "boolean") return String(v);
  return v === "" || /[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

const line = (fields: readonly Field[]) => fields.map(field).join(",");
const bounds = (i: Interval): Field[] => [i.low, i.high];

/** One row per TRE and one combined row for a count cell, after the given leading fields. */
function countRows(lead: readonly KeyValue[], c: CountCell, tres: readonly string[]): Field[][] {
  return [
    ...tres.map((t) => [...lead, t, ...bounds(c.byTre[t] ?? { low: 0, high: 0 })]),
    [...lead, "combined", ...bounds(c.combined)],
  ];
}

/**
 * The result as CSV text.
 *
 * @example
 * writeFileSync("counts.csv", toCsv(result));
 */
export function toCsv(result: CombinedResult): string {
  const { header, rows } = table(result);
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

function table(r: CombinedResult): { header: string[]; rows: Field[][] } {
  switch (r.kind) {
    case "count":
      return {
        header: [...r.groupBy, "source", "low", "high"],
        rows: r.cells.flatMap((c) => countRows(c.key, c, r.tres)),
      };
    case "crosstab":
      return {
        header: [r.rows, r.cols, "source", "low", "high"],
        rows: r.rowKeys.flatMap((rk, i) =>
          r.colKeys.flatMap((ck, j) => {
            const c = r.cells[i]?.[j];
            return c ? countRows([rk, ck], c, r.tres) : [];
          }),
        ),
      };
    case "histogram": {
      const labelled: [Field, Field, Field, CountCell][] = [
        ...r.counts.map((c, i): [Field, Field, Field, CountCell] => [
          i,
          r.edges[i] ?? null,
          r.edges[i + 1] ?? null,
          c,
        ]),
        ["below", null, r.bins.min, r.below],
        ["above", r.bins.max, null, r.above],
        ["missing", null, null, r.missing],
      ];
      return {
        header: ["bin", "bin_start", "bin_end", "source", "low", "high"],
        rows: labelled.flatMap(([bin, start, end, c]) =>
          countRows([], c, r.tres).map((row) => [bin, start, end, ...row]),
        ),
      };
    }
    case "summary":
      return {
        header: [...r.groupBy, "source", "n_low", "n_high", "mean", "variance", "left_out"],
        rows: r.cells.flatMap((c) => [
          ...r.tres.map((t) => {
            const s = c.byTre[t];
            return [
              ...c.key,
              t,
              ...(s ? [...bounds(s.n), s.mean, s.variance] : [null, null, null, null]),
              null,
            ];
          }),
          [
            ...c.key,
            "combined",
            ...bounds(c.combined.n),
            c.combined.mean,
            c.combined.variance,
            c.combined.leftOut.length > 0 ? c.combined.leftOut.join(";") : null,
          ],
        ]),
      };
    case "regression": {
      const fits = [
        ...r.tres.map((t) => ({ source: t, n: r.byTre[t]?.n ?? 0, fit: r.byTre[t]?.fit ?? null })),
        { source: "combined", n: r.n, fit: r.combined },
      ];
      return {
        header: ["term", "source", "n", "estimate", "se", "t", "df", "sigma2", "r2"],
        rows: r.terms.flatMap((term, j) =>
          fits.map(({ source, n, fit }) => {
            const c = fit?.coefficients[j];
            return [
              term,
              source,
              n,
              c?.estimate ?? null,
              c?.se ?? null,
              c?.t ?? null,
              fit?.df ?? null,
              fit?.sigma2 ?? null,
              fit?.r2 ?? null,
            ];
          }),
        ),
      };
    }
  }
}
