/**
 * The reviewer's page as a Hono app, over a `ReviewBackend` (the same signed requests `tremesh airlock` sends).
 * Behind page-guard.ts (one-time login, session, CSRF on every decision, Host check, CSP); every value escaped
 * by page-html.ts. The reviewer's signing key never reaches the browser: the backend signs, in the server process.
 */
import type { Context, Hono } from "hono";
import { type AirlockOutputView, type AirlockTaskView, isTaskId } from "../protocol/index.js";
import { historyPage, queuePage, queueRows, taskPage } from "./airlock-page-views.js";
import { AirlockRequestError, type DecisionRequest } from "./airlock-requests.js";
import { CliError } from "./exit-codes.js";
import { type ProblemStatus, pageGuard } from "./page-guard.js";
import { type Html, html, page } from "./page-html.js";

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

const DECISIONS = ["release-checked", "release-as-is", "reject"] as const;
type PageDecision = (typeof DECISIONS)[number];

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
  const { app, csrf, postedForm, problem } = pageGuard({
    ...options,
    command: "tremesh airlock serve",
    cookie: "tremesh_review",
    home: "back to the queue",
  });
  const who = html`TRE <b>${backend.tre}</b> · reviewer <b>${backend.reviewer}</b>`;
  const render = (c: Context, title: string, body: Html) =>
    c.html(page(title, "tremesh airlock", who, body).text);

  // A decision's refusals are the decide route's own, which leads back to the output and keeps the reason typed.
  // The leaf out of reach (stopped, restarting) is said in words, as `tremesh airlock` says it, not as a bare 500.
  app.onError((e, c) => {
    if (e instanceof AirlockRequestError) return problem(c, ...airlockRefusal(e));
    if (e instanceof CliError) return problem(c, 503, "The airlock cannot be reached", e.message);
    throw e;
  });

  app.get("/", async (c) => render(c, "Queue", queuePage(await backend.list(false), backend.reviewer)));
  app.get("/queue", async (c) => c.html(queueRows(await backend.list(false), backend.reviewer).text));
  app.get("/history", async (c) => render(c, "Decided tasks", historyPage(await backend.list(true))));

  app.get("/task/:taskId", async (c) => {
    const taskId = c.req.param("taskId");
    if (!isTaskId(taskId)) return problem(c, 404, "No such task", "That is not a task id.");
    const task = await backend.show(taskId);
    return render(c, task.title ?? task.taskId, taskPage(task, csrf(c), backend.reviewer));
  });

  app.post("/task/:taskId/output/:outputId/decide", async (c) => {
    const posted = await postedForm(c);
    if (!posted.ok) return posted.refusal;
    const { form } = posted;
    const { taskId, outputId } = c.req.param();
    const decision = DECISIONS.find((d) => d === form.decision);
    if (!isTaskId(taskId) || !isTaskId(outputId) || !decision)
      return problem(c, 400, "Not a decision", "The form does not name a task, an output and a decision.");
    const reason = typeof form.reason === "string" ? form.reason.trim() : "";
    // Each refusal leads back to the output decided on, and shows the reason typed, which the form loses.
    const back = { href: `/task/${taskId}#output-${outputId}`, label: "back to the task" };
    const kept = reason ? { label: "Your reason, to copy into the form again:", text: reason } : undefined;
    const refuse = (status: ProblemStatus, title: string, message: string) =>
      problem(c, status, title, message, back, kept);
    if (decision !== "release-checked" && !reason)
      return refuse(400, "Reason required", "Releasing an output as it is, or rejecting it, needs a reason.");
    try {
      const task = await backend.show(taskId);
      const output = task.outputs.find((o) => o.outputId === outputId);
      if (!output) return refuse(404, "No such output", `Task ${taskId} has no output ${outputId}.`);
      if (form.seen !== output.digest)
        return refuse(409, "Changed", "The output is not the one you looked at; reload the page.");
      const digest = digestFor(decision, output);
      if (!digest)
        return refuse(
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
    } catch (e) {
      if (e instanceof CliError) return refuse(503, "The airlock cannot be reached", e.message);
      if (!(e instanceof AirlockRequestError)) throw e;
      return refuse(...airlockRefusal(e));
    }
    return c.redirect(back.href, 303);
  });

  return app;
}

/** A problem page's status, title and words for the airlock's own refusal of a request. */
function airlockRefusal(e: AirlockRequestError): [ProblemStatus, string, string] {
  const title = e.code === "not_found" ? "Not held in this airlock" : "The airlock refused";
  return [STATUS_OF_CODE[e.code] ?? 403, title, `${e.message} (${e.code})`];
}

/** The digest a decision signs, exactly as `tremesh airlock approve|reject` picks it. */
function digestFor(decision: PageDecision, o: AirlockOutputView): string | undefined {
  return decision === "release-checked" ? o.releasableDigest : o.digest;
}
