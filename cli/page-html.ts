/**
 * HTML for the pages, rendered on the server. Every interpolated value goes through `html`, which
 * escapes it unless it is already `Html` made here: researcher-supplied strings (titles, names, group labels,
 * file contents) can only ever be text, never markup or an attribute.
 */
import { ASSET_PATHS } from "./page-assets.js";

/** Markup made by this module; anything else interpolated into `html` is escaped. */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
  "`": "&#96;",
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => ESCAPES[c] ?? c);
}

function part(value: unknown): string {
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(part).join("");
  if (value === undefined || value === null || value === false) return "";
  return escapeHtml(String(value));
}

/** A tagged template: `html\`<td>${label}</td>\`` escapes `label`; arrays of Html join. */
export function html(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? "";
  values.forEach((v, i) => {
    out += part(v) + (strings[i + 1] ?? "");
  });
  return new Html(out);
}

/** A time as the pages show it (UTC, to the second), in a `<time>` element. */
export function when(ms: number): Html {
  const d = new Date(ms).toISOString();
  return html`<time datetime="${d}">${d.replace(/\.\d{3}Z$/, "Z").replace("T", " ")}</time>`;
}

/** The page frame: local stylesheet and script only (the Content-Security-Policy allows nothing else). */
export function page(title: string, site: string, who: Html, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${site}</title>
<link rel="stylesheet" href="${ASSET_PATHS.css}">
<script src="${ASSET_PATHS.js}" defer></script>
</head>
<body>
<header><a href="/" class="home">${site}</a> <span class="who">${who}</span></header>
<main>${body}</main>
</body>
</html>`;
}

/** Where a problem page leads back to: a link's address and words. */
export interface WayBack {
  href: string;
  label: string;
}

/** Words someone typed into a refused form, shown again on the problem page so that they are not lost. */
export interface KeptText {
  label: string;
  text: string;
}

/**
 * A page that says what went wrong, in words, with a way back (none where there is nowhere to go yet: a browser
 * not logged in is told what to do instead), and the words typed into the refused form, if any, to copy.
 */
export function problemPage(
  title: string,
  message: string,
  back: WayBack | undefined,
  kept?: KeptText,
): Html {
  const typed = kept
    ? html`<p><label>${kept.label}<br><textarea class="kept" readonly rows="4" cols="60">${kept.text}</textarea></label></p>`
    : "";
  const link = back ? html`<p><a href="${back.href}">${back.label}</a></p>` : "";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<link rel="stylesheet" href="${ASSET_PATHS.css}"></head>
<body><main><h1>${title}</h1><p class="problem" role="alert">${message}</p>${typed}${link}</main></body></html>`;
}
