/**
 * One output description as plain text tables, for a reviewer deciding on it: every value the output would
 * release as it stands (a rounded count as its released value, not as bounds), withheld values shown as
 * `withheld (≤N)`, never as 0. Table layout and number format are the aggregator's, so a reviewer and the
 * researcher read the same figures the same way.
 */
import { formatKeyValue, formatNumber, textTable } from "../aggregator/index.js";
import type { AnalysisOutput, KeyValue } from "../protocol/index.js";

type Cell = number | null;

function table(header: string[], rows: string[][]): string[] {
  return textTable(header, rows, 1).split("\n");
}

function key(k: readonly KeyValue[]): string {
  return k.length === 0 ? "(all)" : k.map(formatKeyValue).join(" / ");
}

const num = (v: number | null | undefined) => formatNumber(v ?? null);

/** Renders a count, as a reviewer must read it: a withheld count says so, with its bound. */
function count(output: AnalysisOutput, at: string, v: Cell): string {
  if (v !== null) return String(v);
  const s = "suppressed" in output ? output.suppressed?.find((x) => x.at === at) : undefined;
  return s?.atMost === undefined ? "withheld" : `withheld (≤${s.atMost})`;
}

export function renderOutput(output: AnalysisOutput): string[] {
  const head = `${output.kind} of dataset ${output.dataset}`;
  const rounded =
    "rounding" in output && output.rounding ? [`counts rounded to a multiple of ${output.rounding}`] : [];
  switch (output.kind) {
    case "count":
      return [
        head,
        ...rounded,
        ...table(
          [output.groupBy.join(" / ") || "group", "n"],
          output.cells.map((c, i) => [key(c.key), count(output, `cells[${i}]`, c.n)]),
        ),
      ];
    case "summary":
      return [
        `${head}, column ${output.column}`,
        ...table(
          [output.groupBy.join(" / ") || "group", "n", "mean", "variance"],
          output.cells.map((c, i) => [
            key(c.key),
            count(output, `cells[${i}]`, c.n),
            num(c.mean),
            num(c.variance),
          ]),
        ),
      ];
    case "histogram": {
      const { min, max, count: bins } = output.bins;
      const width = (max - min) / bins;
      return [
        `${head}, column ${output.column}`,
        ...rounded,
        ...table(
          ["bin", "n"],
          [
            ...output.counts.map((n, i) => [
              `[${num(min + i * width)}, ${num(min + (i + 1) * width)}${i === bins - 1 ? "]" : ")"}`,
              count(output, `counts[${i}]`, n),
            ]),
            [`below ${num(min)}`, count(output, "below", output.below)],
            [`above ${num(max)}`, count(output, "above", output.above)],
            ["missing", count(output, "missing", output.missing)],
          ],
        ),
      ];
    }
    case "crosstab":
      return [
        `${head}, ${output.rows} × ${output.cols}`,
        ...rounded,
        ...table(
          [`${output.rows} \\ ${output.cols}`, ...output.colKeys.map((k) => key([k]))],
          output.rowKeys.map((r, i) => [
            key([r]),
            ...output.colKeys.map((_, j) => count(output, `cells[${i}][${j}]`, output.cells[i]?.[j] ?? null)),
          ]),
        ),
      ];
    case "regression":
      return [
        `${head}, ${output.outcome} ~ ${output.predictors.join(" + ")}`,
        `n ${output.n} (rows dropped for missing values: ${output.dropped}); terms ${output.terms.join(", ")}`,
        ...table(
          ["X'X", ...output.terms],
          output.terms.map((t, i) => [t, ...(output.xtx[i] ?? []).map((v) => num(v))]),
        ),
        `X'y: ${output.xty.map((v) => num(v)).join(", ")}   y'y: ${num(output.yty)}`,
      ];
  }
}
