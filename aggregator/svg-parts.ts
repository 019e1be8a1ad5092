/**
 * The few SVG building blocks the aggregator's charts share, written by hand: escaped text, round axis
 * ticks, the document frame. Every text node goes through `escapeXml`, since group keys, names and
 * titles come from other parties.
 */

/** Every chart's width in px; heights follow from the content. */
export const WIDTH = 640;
const FONT = 'font-family="sans-serif" font-size="11"';

/** Escapes text for an XML text node or attribute value. */
export function escapeXml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  );
}

/** Round-number axis ticks from at or below `lo` to at or above `hi`, so the axis covers every value. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * mag >= raw) ?? 10) * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)));
}

/** Coordinates to 2 decimals: sub-pixel precision without 17-digit noise in the file. */
export const n2 = (x: number) => Number(x.toFixed(2));
/** A text node, escaped. */
export const text = (x: number, y: number, s: string, attrs = "") =>
  `<text x="${n2(x)}" y="${n2(y)}" ${FONT} ${attrs}>${escapeXml(s)}</text>`;
/** A whole SVG document with a white background and a centred title. */
export const svgDocument = (height: number, title: string, parts: string[]) =>
  [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    text(WIDTH / 2, 18, title, 'text-anchor="middle" font-weight="bold"'),
    ...parts,
    "</svg>",
  ].join("\n");
