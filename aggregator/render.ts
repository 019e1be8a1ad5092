/**
 * Plain-text tables of a combined result for people: one column per TRE and one for the combination,
 * bounds shown as bounds (render-format.ts), and the result's notes underneath so a pooled figure that
 * leaves a TRE out says so next to the numbers.
 */
import type {
  CombinedResult,
  CountResult,
  CrosstabResult,
  HistogramResult,
  RegressionFit,
  RegressionResult,
  SummaryResult,
} from "./combined-result.js";
import { formatInterval, formatKeyValue, formatNumber, textTable, Z_95 } from "./render-format.js";

/**
 * Renders a combined result as text tables.
 *
 * @example
 * process.stdout.write(`${renderTables(combineOutputs(parts))}\n`);
 */
export function renderTables(result: CombinedResult): string {
  const title = `${result.kind} of ${result.dataset} at ${result.tres.join(", ")}`;
  const body = tables(result);
  const notes = result.notes.map((n) => `note: ${n}`);
  return [title, "", ...body.flatMap((t) => [t, ""]), ...notes].join("\n").trimEnd();
}

function tables(result: CombinedResult): string[] {
  switch (result.kind) {
    case "count":
      return [countTable(result)];
    case "crosstab":
      return crosstabTables(result);
    case "histogram":
      return [histogramTable(result)];
    case "summary":
      return [summaryTable(result)];
    case "regression":
      return regressionTables(result);
  }
}

const sources = (r: CombinedResult) => [...r.tres, "combined"];

function countTable(r: CountResult): string {
  const keyCols = r.groupBy.length > 0 ? r.groupBy : ["group"];
  const rows = r.cells.map((c) => [
    ...(r.groupBy.length > 0 ? c.key.map(formatKeyValue) : ["all rows"]),
    ...r.tres.map((t) => formatInterval(c.byTre[t] ?? { low: 0, high: 0 })),
    formatInterval(c.combined),
  ]);
  return textTable([...keyCols, ...sources(r)], rows, keyCols.length);
}

function crosstabTables(r: CrosstabResult): string[] {
  const long = r.rowKeys.flatMap((rk, i) =>
    r.colKeys.map((ck, j) => {
      const c = r.cells[i]?.[j];
      return [
        formatKeyValue(rk),
        formatKeyValue(ck),
        ...r.tres.map((t) => (c ? formatInterval(c.byTre[t] ?? { low: 0, high: 0 }) : "")),
        c ? formatInterval(c.combined) : "",
      ];
    }),
  );
  const matrix = r.rowKeys.map((rk, i) => [
    formatKeyValue(rk),
    ...r.colKeys.map((_, j) => {
      const c = r.cells[i]?.[j];
      return c ? formatInterval(c.combined) : "";
    }),
  ]);
  return [
    textTable([r.rows, r.cols, ...sources(r)], long, 2),
    `combined, ${r.rows} (rows) by ${r.cols} (columns):\n${textTable(
      [`${r.rows} \\ ${r.cols}`, ...r.colKeys.map(formatKeyValue)],
      matrix,
      1,
    )}`,
  ];
}

function histogramTable(r: HistogramResult): string {
  const bin = (i: number) =>
    `[${formatNumber(r.edges[i] ?? null)}, ${formatNumber(r.edges[i + 1] ?? null)}${i === r.bins.count - 1 ? "]" : ")"}`;
  const labelled = [
    ...r.counts.map((c, i) => [bin(i), c] as const),
    [`below ${formatNumber(r.bins.min)}`, r.below] as const,
    [`above ${formatNumber(r.bins.max)}`, r.above] as const,
    ["missing", r.missing] as const,
  ];
  const rows = labelled.map(([label, c]) => [
    label,
    ...r.tres.map((t) => formatInterval(c.byTre[t] ?? { low: 0, high: 0 })),
    formatInterval(c.combined),
  ]);
  return textTable([r.column, ...sources(r)], rows, 1);
}

function summaryTable(r: SummaryResult): string {
  const keyCols = r.groupBy.length > 0 ? r.groupBy : ["group"];
  const rows = r.cells.flatMap((c) => {
    const key = r.groupBy.length > 0 ? c.key.map(formatKeyValue) : ["all rows"];
    const stat = (n: { low: number; high: number }, mean: number | null, variance: number | null) => [
      formatInterval(n),
      formatNumber(mean),
      formatNumber(variance),
      formatNumber(variance === null ? null : Math.sqrt(variance)),
    ];
    const perTre = r.tres.map((t) => {
      const s = c.byTre[t];
      return [...key, t, ...(s ? stat(s.n, s.mean, s.variance) : ["", "", "", ""])];
    });
    const label =
      c.combined.leftOut.length > 0 ? `combined (without ${c.combined.leftOut.join(", ")})` : "combined";
    return [...perTre, [...key, label, ...stat(c.combined.n, c.combined.mean, c.combined.variance)]];
  });
  return textTable([...keyCols, "source", "n", "mean", "variance", "sd"], rows, keyCols.length + 1);
}

function regressionTables(r: RegressionResult): string[] {
  const fits: (RegressionFit | null)[] = [...r.tres.map((t) => r.byTre[t]?.fit ?? null), r.combined];
  const cell = (fit: RegressionFit | null, j: number) => {
    const c = fit?.coefficients[j];
    if (!c) return "–";
    return c.se === null ? formatNumber(c.estimate) : `${formatNumber(c.estimate)} (${formatNumber(c.se)})`;
  };
  const side = [
    ...r.terms.map((term, j) => [term, ...fits.map((f) => cell(f, j))]),
    ["n", ...r.tres.map((t) => String(r.byTre[t]?.n ?? 0)), String(r.n)],
    ["sigma", ...fits.map((f) => formatNumber(f?.sigma2 == null ? null : Math.sqrt(f.sigma2)))],
    ["R²", ...fits.map((f) => formatNumber(f?.r2 ?? null))],
  ];
  const detail = r.combined.coefficients.map((c) => [
    c.term,
    formatNumber(c.estimate),
    formatNumber(c.se),
    formatNumber(c.t),
    c.se === null
      ? "–"
      : `${formatNumber(c.estimate - Z_95 * c.se)} to ${formatNumber(c.estimate + Z_95 * c.se)}`,
  ]);
  return [
    `${r.outcome} ~ ${r.predictors.join(" + ")}${r.intercept ? "" : " (no intercept)"}: estimate (standard error)\n${textTable(
      ["term", ...sources(r)],
      side,
      1,
    )}`,
    `combined (${r.n} rows, ${r.dropped} dropped for nulls, ${r.combined.df} residual df):\n${textTable(
      ["term", "estimate", "SE", "t", "95% CI"],
      detail,
      1,
    )}`,
  ];
}
