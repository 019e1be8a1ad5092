/**
 * What every tremesh page (the reviewer's `airlock serve`, the researcher's `ui`) puts in front of its routes:
 * - a one-time login token, exchanged for an HttpOnly, SameSite=Strict session cookie; every request without
 *   that session is refused (401);
 * - a CSRF token per session for every form that changes anything, checked in constant time (403 without it);
 * - only the Host names the server was started for are answered (no DNS rebinding);
 * - a strict Content-Security-Policy (own scripts and styles only, no inline script, no framing), no caching of
 *   pages and no referrer (the login token must not leak);
 * - the page's own stylesheet and script, served locally (a TRE has no internet) at addresses named by their
 *   content, so the browser keeps them instead of fetching them again for every page.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { ASSET_CACHE_CONTROL, ASSET_PATHS, PAGE_CSS, PAGE_JS } from "./page-assets.js";
import { type KeptText, problemPage, type WayBack } from "./page-html.js";

export interface PageGuardOptions {
  /** The one-time token of the login URL. */
  loginToken: string;
  /** `Host` header values the page answers (host:port); filled in once the server listens. */
  allowedHosts: readonly string[];
  /** The command that printed the login URL, for the refusal pages. */
  command: string;
  /** The session cookie's name (each page its own, so two pages on one machine do not share one). */
  cookie: string;
  /** The words of a problem page's link back to the page's first page (`/`): "back to the queue". */
  home: string;
}

export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 503;

export interface PageGuard {
  /** The app, with the guard's middleware and the login and asset routes; the caller adds its routes. */
  app: Hono;
  /** The session's CSRF token, for the forms of a page. */
  csrf(c: Context): string;
  /** A posted form's fields, or the 403 refusal when it lacks the session's CSRF token. */
  postedForm(
    c: Context,
  ): Promise<{ ok: true; form: Record<string, unknown> } | { ok: false; refusal: Response }>;
  /**
   * A problem page; its link leads to `back`, by default the page's first page. `kept`: what was typed into the
   * refused form, shown again to copy.
   */
  problem(
    c: Context,
    status: ProblemStatus,
    title: string,
    message: string,
    back?: WayBack,
    kept?: KeptText,
  ): Response;
}

export const newSecret = () => randomBytes(32).toString("base64url");

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join("; ");

export function pageGuard(options: PageGuardOptions): PageGuard {
  let loginToken: string | undefined = options.loginToken;
  /** Session id → its CSRF token. */
  const sessions = new Map<string, string>();
  const app = new Hono();
  const home = { href: "/", label: options.home };
  const problem = (
    c: Context,
    status: ProblemStatus,
    title: string,
    message: string,
    back: WayBack = home,
    kept?: KeptText,
  ) => c.html(problemPage(title, message, back, kept).text, status);
  /** Refused at the door (wrong address, no session): a link into the page would only be refused again. */
  const atTheDoor = (c: Context, status: 401 | 403, title: string, message: string) =>
    c.html(problemPage(title, message, undefined).text, status);
  const notLoggedIn = (c: Context, message: string) => atTheDoor(c, 401, "Not logged in", message);
  const csrf = (c: Context) => sessions.get(getCookie(c, options.cookie) ?? "") ?? "";

  app.use("*", async (c, next) => {
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
    c.header("Cache-Control", "no-store");
    if (!options.allowedHosts.includes(c.req.header("host") ?? ""))
      return atTheDoor(
        c,
        403,
        "Refused",
        `This page answers only at the address \`${options.command}\` printed.`,
      );
    await next();
  });

  app.get("/login", (c) => {
    const token = c.req.query("token") ?? "";
    if (loginToken === undefined || !sameSecret(token, loginToken))
      return notLoggedIn(
        c,
        `This login link is not valid or was already used. Restart \`${options.command}\` for a new one.`,
      );
    loginToken = undefined; // one time only
    const session = newSecret();
    sessions.set(session, newSecret());
    setCookie(c, options.cookie, session, { httpOnly: true, sameSite: "Strict", path: "/" });
    return c.redirect("/", 303);
  });

  const asset = (body: string, type: string) => (c: Context) =>
    c.body(body, 200, { "content-type": `${type}; charset=utf-8`, "cache-control": ASSET_CACHE_CONTROL });
  app.get(ASSET_PATHS.css, asset(PAGE_CSS, "text/css"));
  app.get(ASSET_PATHS.js, asset(PAGE_JS, "text/javascript"));
  // Browsers ask for it on their own: no icon, said once, instead of an error in the console on every page.
  app.get("/favicon.ico", (c) => c.body(null, 204, { "cache-control": ASSET_CACHE_CONTROL }));

  // Everything added after this needs the session.
  app.use("*", async (c, next) => {
    const session = getCookie(c, options.cookie);
    if (!session || !sessions.has(session))
      return notLoggedIn(c, `Open the login link that \`${options.command}\` printed.`);
    await next();
  });

  return {
    app,
    csrf,
    postedForm: async (c) => {
      const form: Record<string, unknown> = await c.req.parseBody();
      if (typeof form.csrf === "string" && sameSecret(form.csrf, csrf(c))) return { ok: true, form };
      return {
        ok: false,
        refusal: problem(
          c,
          403,
          "Refused",
          "The form's CSRF token is missing or wrong; reload the page and try again.",
        ),
      };
    },
    problem,
  };
}
