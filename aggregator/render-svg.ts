/**
 * Hand-written SVG charts of a combined result, with no chart library: a histogram's combined bars,
 * and a regression's coefficients as a forest plot (one panel per term, each TRE's estimate and the
 * combined one with ±1.96·SE bars, every panel on its own scale since terms differ in units).
 *
 * A bar whose count is bounds only is drawn solid up to its lower bound and hollow up to its upper
 * bound, or with a dashed open top when unbounded, so a chart never shows a withheld count as 0 either.
 * Every text node is escaped: keys and names come from other parties' data.
 */
import { INTERCEPT_TERM } from "../protocol/index.js";
import type { CombinedResult, HistogramResult, RegressionResult } from "./combined-result.js";
import { formatInterval, formatNumber, Z_95 } from "./render-format.js";
import { escapeXml, n2, niceTicks, svgDocument, text, WIDTH } from "./svg-parts.js";

/**
 * An SVG chart of the result: histograms and regressions; null for kinds without a chart.
 *
 * @example
 * const chart = toSvg(result);
 * if (chart) writeFileSync("age.svg", chart);
 */
export function toSvg(result: CombinedResult): string | null {
  if (result.kind === "histogram") return histogramSvg(result);
  if (result.kind === "regression") return regressionSvg(result);
  return null;
}

function histogramSvg(r: HistogramResult): string {
  const height = 360;
  const [left, right, top, bottom] = [64, WIDTH - 16, 36, height - 64];
  const finiteTops = r.counts.map((c) =>
    Number.isFinite(c.combined.high) ? c.combined.high : c.combined.low,
  );
  const yTicks = niceTicks(0, Math.max(1, ...finiteTops));
  const yMax = yTicks.at(-1) ?? 1;
  const x = (v: number) => left + ((v - r.bins.min) / (r.bins.max - r.bins.min)) * (right - left);
  const y = (v: number) => bottom - (Math.min(v, yMax) / yMax) * (bottom - top);
  const parts: string[] = [];
  for (const t of yTicks) {
    parts.push(`<line x1="${left}" x2="${right}" y1="${n2(y(t))}" y2="${n2(y(t))}" stroke="#e5e5e5"/>`);
    parts.push(text(left - 6, y(t) + 4, formatNumber(t), 'text-anchor="end"'));
  }
  r.counts.forEach((c, i) => {
    const x0 = x(r.edges[i] ?? r.bins.min) + 1;
    const w = Math.max(1, x(r.edges[i + 1] ?? r.bins.max) - x0 - 1);
    const { low, high } = c.combined;
    const label = `${formatNumber(r.edges[i] ?? null)}–${formatNumber(r.edges[i + 1] ?? null)}: ${formatInterval(c.combined)}`;
    parts.push(`<g><title>${escapeXml(label)}</title>`);
    parts.push(
      `<rect x="${n2(x0)}" y="${n2(y(low))}" width="${n2(w)}" height="${n2(bottom - y(low))}" fill="#3b6ea5"/>`,
    );
    if (high > low) {
      const dashed = Number.isFinite(high) ? "" : ' stroke-dasharray="3 2"';
      parts.push(
        `<rect x="${n2(x0)}" y="${n2(y(high))}" width="${n2(w)}" height="${n2(y(low) - y(high))}" fill="none" stroke="#3b6ea5"${dashed}/>`,
      );
    }
    parts.push("</g>");
  });
  parts.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" stroke="black"/>`);
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="black"/>`);
  const every = Math.ceil(r.edges.length / 11);
  r.edges.forEach((e, i) => {
    if (i % every !== 0 && i !== r.edges.length - 1) return;
    parts.push(`<line x1="${n2(x(e))}" x2="${n2(x(e))}" y1="${bottom}" y2="${bottom + 4}" stroke="black"/>`);
    parts.push(text(x(e), bottom + 16, formatNumber(e), 'text-anchor="middle"'));
  });
  parts.push(text((left + right) / 2, bottom + 34, r.column, 'text-anchor="middle"'));
  parts.push(
    text(
      16,
      (top + bottom) / 2,
      "count",
      `text-anchor="middle" transform="rotate(-90 16 ${(top + bottom) / 2})"`,
    ),
  );
  parts.push(
    text(
      left,
      height - 10,
      `below ${formatNumber(r.bins.min)}: ${formatInterval(r.below.combined)}; above ${formatNumber(r.bins.max)}: ${formatInterval(r.above.combined)}; missing: ${formatInterval(r.missing.combined)}; hollow bar: bounds only`,
    ),
  );
  return svgDocument(height, `${r.column} in ${r.dataset}, combined over ${r.tres.join(", ")}`, parts);
}

function regressionSvg(r: RegressionResult): string {
  const sources = [
    ...r.tres.map((t) => ({ name: t, fit: r.byTre[t]?.fit ?? null, combined: false })),
    { name: "combined", fit: r.combined, combined: true },
  ];
  const rowH = 18;
  const panelH = (sources.length + 1.5) * rowH + 28;
  const [left, right, top] = [130, WIDTH - 24, 36];
  const parts: string[] = [];
  r.terms.forEach((term, j) => {
    const y0 = top + j * panelH;
    const points = sources.map((s) => {
      const c = s.fit?.coefficients[j];
      const half = c?.se == null ? 0 : Z_95 * c.se;
      return {
        ...s,
        est: c?.estimate ?? null,
        lo: c ? c.estimate - half : null,
        hi: c ? c.estimate + half : null,
      };
    });
    const values = points
      .flatMap((p) => [p.lo, p.hi])
      .filter((v): v is number => v !== null && Number.isFinite(v));
    // Zero is the reference a predictor's interval is read against; an intercept has no such reference.
    const zero = term === INTERCEPT_TERM ? [] : [0];
    let lo = Math.min(...values, ...zero);
    let hi = Math.max(...values, ...zero);
    if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
    const ticks = niceTicks(lo, hi, 4);
    lo = Math.min(lo, ticks[0] ?? lo);
    hi = Math.max(hi, ticks.at(-1) ?? hi);
    const x = (v: number) => left + ((v - lo) / (hi - lo)) * (right - left);
    const axisY = y0 + (sources.length + 1) * rowH;
    parts.push(text(8, y0 + 12, term, 'font-weight="bold"'));
    if (lo <= 0 && hi >= 0)
      parts.push(
        `<line x1="${n2(x(0))}" x2="${n2(x(0))}" y1="${y0 + rowH}" y2="${n2(axisY)}" stroke="#bbbbbb" stroke-dasharray="4 3"/>`,
      );
    points.forEach((p, i) => {
      const cy = y0 + (i + 1.5) * rowH;
      parts.push(text(16, cy + 4, p.name, p.combined ? 'font-weight="bold"' : ""));
      if (p.est === null || p.lo === null || p.hi === null) {
        parts.push(text(left, cy + 4, "no fit", 'fill="#888888"'));
        return;
      }
      const colour = p.combined ? "#b5322e" : "#3b6ea5";
      const label = `${p.name}: ${formatNumber(p.est)} [${formatNumber(p.lo)}, ${formatNumber(p.hi)}]`;
      parts.push(`<g><title>${escapeXml(label)}</title>`);
      parts.push(
        `<line x1="${n2(x(p.lo))}" x2="${n2(x(p.hi))}" y1="${cy}" y2="${cy}" stroke="${colour}" stroke-width="2"/>`,
      );
      parts.push(
        p.combined
          ? `<rect x="${n2(x(p.est) - 4)}" y="${cy - 4}" width="8" height="8" fill="${colour}" transform="rotate(45 ${n2(x(p.est))} ${cy})"/>`
          : `<circle cx="${n2(x(p.est))}" cy="${cy}" r="3.5" fill="${colour}"/>`,
      );
      parts.push("</g>");
    });
    parts.push(`<line x1="${left}" x2="${right}" y1="${n2(axisY)}" y2="${n2(axisY)}" stroke="black"/>`);
    for (const t of ticks) {
      parts.push(
        `<line x1="${n2(x(t))}" x2="${n2(x(t))}" y1="${n2(axisY)}" y2="${n2(axisY + 4)}" stroke="black"/>`,
      );
      parts.push(text(x(t), axisY + 15, formatNumber(t), 'text-anchor="middle"'));
    }
  });
  const height = top + r.terms.length * panelH + 24;
  parts.push(text(8, height - 8, `points: estimates; bars: ±1.96·SE; outcome ${r.outcome}`));
  return svgDocument(height, `${r.outcome} ~ ${r.predictors.join(" + ")} in ${r.dataset}`, parts);
}
