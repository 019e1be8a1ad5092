/**
 * The reviewer's page as a Hono app, over a `ReviewBackend` (the same signed requests `tremesh airlock` sends).
 *
 * Safe by construction:
 * - a one-time login token (printed by `airlock serve`) is exchanged for an HttpOnly, SameSite=Strict session
 *   cookie; every other request without that session is refused (401);
 * - every decision form carries the session's CSRF token, checked in constant time (403 without it);
 * - only the Host names the server was started for are answered (no DNS rebinding);
 * - a strict Content-Security-Policy (own scripts and styles only, no inline script, no framing), no caching
 *   and no referrer (the token must not leak);
 * - every value is escaped by airlock-page-html.ts.
 * The reviewer's signing key never reaches the browser: the backend signs, in the server process.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { type Context, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { type AirlockOutputView, type AirlockTaskView, isTaskId } from "../protocol/index.js";
import { REVIEW_CSS, REVIEW_JS } from "./airlock-page-assets.js";
import { type Html, page, problemPage } from "./airlock-page-html.js";
import { historyPage, queuePage, queueRows, taskPage } from "./airlock-page-views.js";
import { AirlockRequestError, type DecisionRequest } from "./airlock-requests.js";

/** What the page needs of the airlock: each call signed with the reviewer's key by the implementation. */
export interface ReviewBackend {
  readonly reviewer: string;
  readonly tre: string;
  list(all: boolean): Promise<AirlockTaskView[]>;
  show(taskId: string): Promise<AirlockTaskView>;
  decide(d: DecisionRequest): Promise<AirlockOutputView>;
}

export interface AirlockPageOptions {
  /** The one-time token of the login URL. */
  loginToken: string;
  /** `Host` header values the page answers (host:port), e.g. `127.0.0.1:8765`, `localhost:8765`. */
  allowedHosts: readonly string[];
}

const SESSION_COOKIE = "tremesh_review";
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

const DECISIONS = ["release-checked", "release-as-is", "reject"] as const;
type PageDecision = (typeof DECISIONS)[number];

export const newSecret = () => randomBytes(32).toString("base64url");

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const STATUS_OF_CODE: Record<string, 400 | 403 | 404 | 409 | 503> = {
  not_found: 404,
  bad_request: 400,
  reason_required: 400,
  already_decided: 409,
  already_reviewed: 409,
  digest_mismatch: 409,
  task_ended: 409,
  no_answer: 503,
  unavailable: 503,
};

export function airlockPage(backend: ReviewBackend, options: AirlockPageOptions): Hono {
  let loginToken: string | undefined = options.loginToken;
  /** Session id → its CSRF token. */
  const sessions = new Map<string, string>();
  const app = new Hono();
  const render = (c: Context, title: string, body: Html, status: 200 | 400 = 200) =>
    c.html(page(title, backend.reviewer, backend.tre, body).text, status);
  const problem = (c: Context, status: 400 | 401 | 403 | 404 | 409 | 503, title: string, message: string) =>
    c.html(problemPage(title, message).text, status);

  app.use("*", async (c, next) => {
    c.header("Content-Security-Policy", CSP);
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("X-Frame-Options", "DENY");
    c.header("Cache-Control", "no-store");
    if (!options.allowedHosts.includes(c.req.header("host") ?? ""))
      return problem(
        c,
        403,
        "Refused",
        "This page answers only at the address `tremesh airlock serve` printed.",
      );
    await next();
  });

  app.get("/login", (c) => {
    const token = c.req.query("token") ?? "";
    if (loginToken === undefined || !sameSecret(token, loginToken))
      return problem(
        c,
        401,
        "Not logged in",
        "This login link is not valid or was already used. Restart `tremesh airlock serve` for a new one.",
      );
    loginToken = undefined; // one time only
    const session = newSecret();
    sessions.set(session, newSecret());
    setCookie(c, SESSION_COOKIE, session, { httpOnly: true, sameSite: "Strict", path: "/" });
    return c.redirect("/", 303);
  });

  app.get("/assets/review.css", (c) =>
    c.body(REVIEW_CSS, 200, { "content-type": "text/css; charset=utf-8" }),
  );
  app.get("/assets/review.js", (c) =>
    c.body(REVIEW_JS, 200, { "content-type": "text/javascript; charset=utf-8" }),
  );

  // Everything below needs the session.
  app.use("*", async (c, next) => {
    const session = getCookie(c, SESSION_COOKIE);
    if (!session || !sessions.has(session))
      return problem(c, 401, "Not logged in", "Open the login link that `tremesh airlock serve` printed.");
    await next();
  });

  app.onError((e, c) => {
    if (e instanceof AirlockRequestError)
      return problem(c, STATUS_OF_CODE[e.code] ?? 403, "The airlock refused", `${e.message} (${e.code})`);
    throw e;
  });

  app.get("/", async (c) => render(c, "Queue", queuePage(await backend.list(false), backend.reviewer)));
  app.get("/queue", async (c) => c.html(queueRows(await backend.list(false), backend.reviewer).text));
  app.get("/history", async (c) => render(c, "Decided tasks", historyPage(await backend.list(true))));

  app.get("/task/:taskId", async (c) => {
    const taskId = c.req.param("taskId");
    if (!isTaskId(taskId)) return problem(c, 404, "No such task", "That is not a task id.");
    const csrf = sessions.get(getCookie(c, SESSION_COOKIE) ?? "") ?? "";
    const task = await backend.show(taskId);
    return render(c, task.title ?? task.taskId, taskPage(task, csrf, backend.reviewer));
  });

  app.post("/task/:taskId/output/:outputId/decide", async (c) => {
    const csrf = sessions.get(getCookie(c, SESSION_COOKIE) ?? "") ?? "";
    const form = await c.req.parseBody();
    const sent = typeof form.csrf === "string" ? form.csrf : "";
    if (!sameSecret(sent, csrf))
      return problem(
        c,
        403,
        "Refused",
        "The form's CSRF token is missing or wrong; reload the page and decide again.",
      );
    const { taskId, outputId } = c.req.param();
    const decision = DECISIONS.find((d) => d === form.decision);
    if (!isTaskId(taskId) || !isTaskId(outputId) || !decision)
      return problem(c, 400, "Not a decision", "The form does not name a task, an output and a decision.");
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    if (decision !== "release-checked" && !reason)
      return problem(
        c,
        400,
        "Reason required",
        "Releasing an output as it is, or rejecting it, needs a reason.",
      );
    const task = await backend.show(taskId);
    const output = task.outputs.find((o) => o.outputId === outputId);
    if (!output) return problem(c, 404, "No such output", `Task ${taskId} has no output ${outputId}.`);
    if (form.seen !== output.digest)
      return problem(c, 409, "Changed", "The output is not the one you looked at; reload the page.");
    const digest = digestFor(decision, output);
    if (!digest)
      return problem(
        c,
        409,
        "No releasable form",
        "The checks could not make a releasable form of this output.",
      );
    await backend.decide({
      tre: backend.tre,
      taskId,
      outputId,
      outputDigest: digest,
      verdict: decision === "reject" ? "reject" : "approve",
      ...(reason ? { reason } : {}),
    });
    return c.redirect(`/task/${taskId}#output-${outputId}`, 303);
  });

  return app;
}

/** The digest a decision signs, exactly as `tremesh airlock approve|reject` picks it. */
function digestFor(decision: PageDecision, o: AirlockOutputView): string | undefined {
  return decision === "release-checked" ? o.releasableDigest : o.digest;
}
