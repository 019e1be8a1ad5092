import { describe, expect, it } from "vitest";
import { ASSET_CACHE_CONTROL, ASSET_PATHS, PAGE_CSS, PAGE_JS } from "./page-assets.js";
import { pageGuard } from "./page-guard.js";
import { html, page } from "./page-html.js";

const HOST = "127.0.0.1:8080";

function guarded() {
  const guard = pageGuard({
    loginToken: "t0ken",
    allowedHosts: [HOST],
    command: "tremesh ui",
    cookie: "s",
    home: "back to your tasks",
  });
  guard.app.get("/", (c) => c.text("queue"));
  return guard.app;
}

describe("the pages' caching", () => {
  it("lets the browser keep the stylesheet and script for good, at addresses the pages link", async () => {
    const app = guarded();
    const linked = page("Queue", "tremesh", html`alice`, html`<p>the queue</p>`);
    expect(linked.text).toContain(`href="${ASSET_PATHS.css}"`);
    expect(linked.text).toContain(`src="${ASSET_PATHS.js}"`);
    for (const [path, body, type] of [
      [ASSET_PATHS.css, PAGE_CSS, "text/css"],
      [ASSET_PATHS.js, PAGE_JS, "text/javascript"],
    ] as const) {
      const res = await app.request(path, { headers: { host: HOST } });
      expect(res.status).toBe(200);
      expect(res.headers.get("cache-control")).toBe(ASSET_CACHE_CONTROL);
      expect(res.headers.get("content-type")).toContain(type);
      expect(await res.text()).toBe(body);
    }
  });

  it("names each version of an asset by its content, and serves no other", async () => {
    expect(ASSET_PATHS.css).toMatch(/^\/assets\/page\.[0-9a-f]{12}\.css$/);
    expect(ASSET_PATHS.js).toMatch(/^\/assets\/page\.[0-9a-f]{12}\.js$/);
    const old = await guarded().request("/assets/page.js", { headers: { host: HOST } });
    expect(old.status).toBe(401); // not an asset: behind the session like every other path
  });

  it("keeps no page, refusal or login answer in any cache", async () => {
    const app = guarded();
    for (const [path, host] of [
      ["/", HOST], // no session: refused
      ["/login?token=wrong", HOST],
      [ASSET_PATHS.css, "evil.example:8080"], // a host the page does not answer
    ] as const) {
      const res = await app.request(path, { headers: { host } });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.headers.get("cache-control")).toBe("no-store");
    }
  });
});

describe("the pages' icon", () => {
  it("is no icon, answered without a session, so the browser's own request is not an error", async () => {
    const res = await guarded().request("/favicon.ico", { headers: { host: HOST } });
    expect(res.status).toBe(204);
    expect(res.headers.get("cache-control")).toBe(ASSET_CACHE_CONTROL);
  });
});
