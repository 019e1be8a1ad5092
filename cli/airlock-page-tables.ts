/**
 * An output description as an HTML table for the reviewer's page, each value with its path (`cells[3]`,
 * `counts[2]`, `below`, `cells[1][4]`), the path the disclosure checks' findings and the suppression list use.
 * Cells the checks flagged are highlighted and name the rule and its detail (threshold and value); withheld
 * values read `withheld (≤N)`, never 0. Numbers are formatted as the aggregator and `airlock show` format them.
 */
import { formatKeyValue, formatNumber } from "../aggregator/index.js";
import type { AirlockFinding, AnalysisOutput, KeyValue } from "../protocol/index.js";
import { type Html, html } from "./page-html.js";

interface Slot {
  /** The value's path; "" for a value the findings never name (a summary cell's mean and variance follow its n). */
  at: string;
  text: string;
}
interface Grid {
  caption: string;
  header: string[];
  rows: { label: string; slots: Slot[] }[];
}

const key = (k: readonly KeyValue[]) => (k.length === 0 ? "(all)" : k.map(formatKeyValue).join(" / "));
const num = (v: number | null | undefined) => formatNumber(v ?? null);

function count(output: AnalysisOutput, at: string, v: number | null): Slot {
  if (v !== null) return { at, text: String(v) };
  const s = "suppressed" in output ? output.suppressed?.find((x) => x.at === at) : undefined;
  return { at, text: s?.atMost === undefined ? "withheld" : `withheld (≤${s.atMost})` };
}

function grid(output: AnalysisOutput): Grid {
  const head = `${output.kind} of dataset ${output.dataset}`;
  const rounded =
    "rounding" in output && output.rounding ? `; counts rounded to a multiple of ${output.rounding}` : "";
  switch (output.kind) {
    case "count":
      return {
        caption: head + rounded,
        header: [output.groupBy.join(" / ") || "group", "n"],
        rows: output.cells.map((c, i) => ({ label: key(c.key), slots: [count(output, `cells[${i}]`, c.n)] })),
      };
    case "summary":
      return {
        caption: `${head}, column ${output.column}`,
        header: [output.groupBy.join(" / ") || "group", "n", "mean", "variance"],
        rows: output.cells.map((c, i) => ({
          label: key(c.key),
          slots: [
            count(output, `cells[${i}]`, c.n),
            { at: "", text: num(c.mean) },
            { at: "", text: num(c.variance) },
          ],
        })),
      };
    case "histogram": {
      const { min, max, count: bins } = output.bins;
      const width = (max - min) / bins;
      return {
        caption: `${head}, column ${output.column}${rounded}`,
        header: ["bin", "n"],
        rows: [
          ...output.counts.map((n, i) => ({
            label: `[${num(min + i * width)}, ${num(min + (i + 1) * width)}${i === bins - 1 ? "]" : ")"}`,
            slots: [count(output, `counts[${i}]`, n)],
          })),
          { label: `below ${num(min)}`, slots: [count(output, "below", output.below)] },
          { label: `above ${num(max)}`, slots: [count(output, "above", output.above)] },
          { label: "missing", slots: [count(output, "missing", output.missing)] },
        ],
      };
    }
    case "crosstab":
      return {
        caption: `${head}, ${output.rows} × ${output.cols}${rounded}`,
        header: [`${output.rows} \\ ${output.cols}`, ...output.colKeys.map((k) => key([k]))],
        rows: output.rowKeys.map((r, i) => ({
          label: key([r]),
          slots: output.colKeys.map((_, j) =>
            count(output, `cells[${i}][${j}]`, output.cells[i]?.[j] ?? null),
          ),
        })),
      };
    case "regression":
      return {
        caption: `${head}, ${output.outcome} ~ ${output.predictors.join(" + ")}; n ${output.n} (dropped ${output.dropped}); X'y ${output.xty.map((v) => num(v)).join(", ")}; y'y ${num(output.yty)}`,
        header: ["X'X", ...output.terms],
        rows: output.terms.map((t, i) => ({
          label: t,
          slots: (output.xtx[i] ?? []).map((v, j) => ({ at: `xtx[${i}][${j}]`, text: num(v) })),
        })),
      };
  }
}

/**
 * Each value's path (`cells[8]`) with the words a reviewer finds it by in the table: its row's label, and its column
 * where a row has several (`F × true`). `airlock show` names a finding's cell with them.
 */
export function pathLabels(output: AnalysisOutput): Map<string, string> {
  const g = grid(output);
  const labels = new Map<string, string>();
  for (const row of g.rows) {
    const counted = row.slots.filter((s) => s.at).length;
    row.slots.forEach((slot, j) => {
      if (slot.at) labels.set(slot.at, counted > 1 ? `${row.label} × ${g.header[j + 1] ?? ""}` : row.label);
    });
  }
  return labels;
}

/** The output as a table; with `findings`, every flagged value is highlighted with its rule and detail. */
export function outputTable(output: AnalysisOutput, findings: readonly AirlockFinding[] = []): Html {
  const byPath = new Map<string, AirlockFinding[]>();
  for (const f of findings) if (f.at) byPath.set(f.at, [...(byPath.get(f.at) ?? []), f]);
  const g = grid(output);
  const cell = (s: Slot) => {
    const flags = s.at ? byPath.get(s.at) : undefined;
    if (!flags?.length) return html`<td>${s.text}</td>`;
    const worst = flags.some((f) => f.outcome === "fail") ? "fail" : "review";
    return html`<td class="flag flag-${worst}" data-at="${s.at}">${s.text}${flags.map(
      (f) => html`<span class="why"><span class="rule">${f.rule}</span> ${f.detail}</span>`,
    )}</td>`;
  };
  return html`<table class="output">
<caption>${g.caption}</caption>
<thead><tr>${g.header.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${g.rows.map((r) => html`<tr><th scope="row">${r.label}</th>${r.slots.map(cell)}</tr>`)}</tbody>
</table>`;
}
