/**
 * A CSV file from a container, previewed for a reviewer: per column the minimum, the minimum above zero (the
 * smallest non-zero count is what a small-cell check looks for), the maximum, the missing values and whether
 * every number is a multiple of the rounding base; then the first rows. No check can judge such a file, so
 * this is what the reviewer reads before deciding.
 */
import { type Html, html } from "./page-html.js";

const PREVIEW_ROWS = 50;
const MISSING = new Set(["", "NA", "N/A", "NULL", "null", "NaN", "."]);

/** Splits CSV text into rows of fields (RFC 4180 quotes; a stray quote inside a field is kept as text). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

export interface ColumnStats {
  name: string;
  numbers: number;
  missing: number;
  min?: number;
  minAboveZero?: number;
  max?: number;
  /** Every number is a multiple of the rounding base (undefined when the column holds no numbers). */
  multiplesOfBase?: boolean;
}

export function columnStats(rows: readonly string[][], roundingBase: number): ColumnStats[] {
  const [header = [], ...body] = rows;
  return header.map((name, j) => {
    const s: ColumnStats = { name, numbers: 0, missing: 0 };
    let multiples = true;
    for (const row of body) {
      const raw = (row[j] ?? "").trim();
      if (MISSING.has(raw)) {
        s.missing++;
        continue;
      }
      const v = Number(raw);
      if (!Number.isFinite(v)) continue;
      s.numbers++;
      s.min = Math.min(s.min ?? v, v);
      s.max = Math.max(s.max ?? v, v);
      if (v > 0) s.minAboveZero = Math.min(s.minAboveZero ?? v, v);
      if (v % roundingBase !== 0) multiples = false;
    }
    if (s.numbers > 0) s.multiplesOfBase = multiples;
    return s;
  });
}

export function csvPreview(text: string, roundingBase: number): Html {
  const rows = parseCsv(text);
  const stats = columnStats(rows, roundingBase);
  const [header = [], ...body] = rows;
  const n = (v: number | undefined) => (v === undefined ? "—" : String(v));
  return html`<table class="csv-stats">
<caption>${body.length} rows; per column</caption>
<thead><tr><th>column</th><th>min</th><th>min above 0</th><th>max</th><th>missing</th><th>all multiples of ${roundingBase}</th></tr></thead>
<tbody>${stats.map(
    (s) =>
      html`<tr><th scope="row">${s.name}</th><td>${n(s.min)}</td><td>${n(s.minAboveZero)}</td><td>${n(s.max)}</td><td>${s.missing}</td><td>${s.multiplesOfBase === undefined ? "—" : s.multiplesOfBase ? "yes" : "no"}</td></tr>`,
  )}</tbody></table>
<table class="csv">
<caption>${body.length > PREVIEW_ROWS ? `the first ${PREVIEW_ROWS} rows` : "every row"}</caption>
<thead><tr>${header.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${body.slice(0, PREVIEW_ROWS).map((r) => html`<tr>${r.map((v) => html`<td>${v}</td>`)}</tr>`)}</tbody>
</table>`;
}
