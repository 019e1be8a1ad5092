import { createHash } from "node:crypto";

/**
 * The pages' only assets, served by the pages themselves (a TRE has no internet, and the
 * Content-Security-Policy allows nothing from elsewhere): a stylesheet, and a script that refreshes the parts
 * of a page that change (a queue, a task's states) while it is open. The script inserts only HTML the server
 * rendered (and escaped), and stops refreshing a part once it holds an element marked `data-final`.
 */

export const PAGE_CSS = `
:root { font-family: system-ui, sans-serif; color: #1b1b1b; background: #fafafa; }
body { margin: 0; }
header { background: #23395d; color: #fff; padding: .6rem 1rem; display: flex; justify-content: space-between; }
header a { color: #fff; font-weight: 600; text-decoration: none; }
main { padding: 1rem 1.5rem; max-width: 90rem; }
table { border-collapse: collapse; margin: .5rem 0; background: #fff; }
th, td { border: 1px solid #ccd; padding: .25rem .5rem; text-align: right; vertical-align: top; }
th[scope=row], table.queue td, table.queue th { text-align: left; }
caption { text-align: left; font-style: italic; padding: .25rem 0; }
.flag-fail { background: #fbd3d0; outline: 2px solid #c62828; }
.flag-review { background: #fff1c2; outline: 2px solid #b58900; }
.why { display: block; font-size: .75em; text-align: left; color: #5b1a14; max-width: 14rem; }
.rule { font-family: ui-monospace, monospace; font-weight: 600; }
.chip { display: inline-block; border-radius: .8rem; padding: 0 .5rem; margin: .1rem; font-size: .85em; background: #e6e9f0; }
.outcome-pass, .state-released { background: #d4edda; }
.outcome-review { background: #fff1c2; }
.outcome-fail, .state-withheld { background: #fbd3d0; }
.side-by-side { display: grid; grid-template-columns: auto auto minmax(16rem, 1fr); gap: 1.5rem; align-items: start; }
.output-view { border-top: 2px solid #23395d; margin-top: 1.5rem; }
.decision { min-width: 16rem; }
.decide form { background: #fff; border: 1px solid #ccd; padding: .5rem; margin-bottom: .75rem; }
.decide label { display: block; margin-bottom: .4rem; }
.decide input[name=reason] { display: block; width: 95%; margin-top: .2rem; }
.blinded { font-style: italic; color: #555; }
.conflicted { background: #fff1c2; border-left: 4px solid #b58900; padding: .25rem .5rem; font-weight: 600; }
form.submit label { display: block; margin: .5rem 0 .1rem; }
form.submit textarea { display: block; font-family: ui-monospace, monospace; }
.field-error { display: block; color: #b71c1c; font-weight: 600; }
.problem { color: #b71c1c; font-weight: 600; }
pre.file { background: #fff; border: 1px solid #ccd; padding: .5rem; max-height: 30rem; overflow: auto; }
.meta { color: #555; }
time { font-variant-numeric: tabular-nums; }
`;

/**
 * Refreshes every element with `data-refresh` from its URL while the page is visible: every REFRESH_MS, or, for
 * an element that carries the `data-version` of what it shows, as soon as the server answers that it changed
 * (the request names the version; the answer's `x-tremesh-version` header is the next one).
 */
export const PAGE_JS = `
"use strict";
const REFRESH_MS = 2000;
for (const el of document.querySelectorAll("[data-refresh]")) {
  let version = el.dataset.version || "";
  const tick = async () => {
    let wait = REFRESH_MS;
    if (document.visibilityState === "visible") {
      try {
        const url = version ? el.dataset.refresh + "?v=" + encodeURIComponent(version) : el.dataset.refresh;
        const r = await fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } });
        if (r.ok) {
          const text = await r.text();
          if (text !== el.dataset.last) { el.innerHTML = text; el.dataset.last = text; }
          if (el.querySelector("[data-final]")) return;
          const next = r.headers.get("x-tremesh-version");
          // The server answered because the part changed: ask again at once, naming what the part shows now.
          if (next && version) wait = 0;
          version = next || "";
        }
      } catch {}
    }
    setTimeout(tick, wait);
  };
  setTimeout(tick, version ? 0 : REFRESH_MS);
}
`;

/** `/assets/page.<digest>.<ext>`: a new version of an asset is a new address, so a browser may keep each for good. */
function assetPath(ext: string, content: string): string {
  return `/assets/page.${createHash("sha256").update(content).digest("hex").slice(0, 12)}.${ext}`;
}

/** Where the pages link their stylesheet and script (page-html.ts), and where page-guard.ts serves them. */
export const ASSET_PATHS = { css: assetPath("css", PAGE_CSS), js: assetPath("js", PAGE_JS) } as const;

/** Assets are public and never change at an address: kept by the browser, not asked for again on every page. */
export const ASSET_CACHE_CONTROL = "private, max-age=31536000, immutable";
