/**
 * The researcher's page as a Hono app, over a `ResearcherBackend` (the same signed hub requests `tremesh status`,
 * `tremesh aggregate` and `tremesh submit` send), behind page-guard.ts: the submission form carries the session's
 * CSRF token. Released files download as attachments, never rendered in the page.
 */
import type { Context, Hono } from "hono";
import {
  type ChangeOptions,
  HubRequestError,
  type SubmitOptions,
  type TaskResults,
  toSvg,
} from "../aggregator/index.js";
import { isTaskId, type SubmitReply, type TaskView } from "../protocol/index.js";
import { pageGuard } from "./page-guard.js";
import { type Html, html, page } from "./page-html.js";
import { hasEnded } from "./results-command.js";
import { checkSubmitForm, readSubmitForm } from "./ui-submit.js";
import { homePage, taskLive, taskPage, taskRows } from "./ui-views.js";

export interface ResearcherBackend {
  readonly researcher: string;
  /** The researcher's own most recent tasks, the newest first (the hub's `tasks` query). */
  tasks(): Promise<TaskView[]>;
  /** The task's view; with `change`, once it has moved on from the view the page holds (or that wait is over). */
  task(taskId: string, change?: ChangeOptions): Promise<TaskView>;
  results(taskId: string): Promise<TaskResults>;
  /** Signs and sends a Submission, as `tremesh submit` does. */
  submit(s: SubmitOptions): Promise<SubmitReply>;
}

export interface ResearcherPageOptions {
  loginToken: string;
  allowedHosts: readonly string[];
}

/** How long the hub may hold a live refresh of a task's page until the task changes, in ms. */
const LIVE_WAIT_MS = 20_000;
/** How long a just-submitted task's view, asked for early, waits for the browser's redirect to collect it, in ms. */
const EARLY_VIEW_MS = 10_000;

export function researcherPage(backend: ResearcherBackend, options: ResearcherPageOptions): Hono {
  const { app, problem, csrf, postedForm } = pageGuard({
    ...options,
    command: "tremesh ui",
    cookie: "tremesh_ui",
    home: "back to your tasks",
  });
  const who = html`researcher <b>${backend.researcher}</b>`;
  const render = (c: Context, title: string, body: Html) => c.html(page(title, "tremesh", who, body).text);
  // Results of an ended task do not change: verified and combined once.
  const ended = new Map<string, TaskResults>();
  // A submitted task's view, asked of the hub while the browser follows the redirect to its page (one round trip
  // to the hub fewer before the page shows); taken by that page's first request, or dropped unasked for.
  const early = new Map<string, Promise<TaskView>>();
  const askEarly = (taskId: string) => {
    const view = backend.task(taskId);
    view.catch(() => undefined); // the page asks again itself
    early.set(taskId, view);
    setTimeout(() => early.delete(taskId), EARLY_VIEW_MS).unref();
  };
  const taskView = async (taskId: string) => {
    const asked = early.get(taskId);
    early.delete(taskId);
    return (await asked?.catch(() => undefined)) ?? backend.task(taskId);
  };
  const resultsOf = async (task: TaskView) => {
    if (!hasEnded(task)) return undefined;
    const known = ended.get(task.taskId);
    if (known) return known;
    const r = await backend.results(task.taskId);
    ended.set(task.taskId, r);
    return r;
  };

  app.onError((e, c) => {
    if (e instanceof HubRequestError)
      return problem(c, e.code === "not_found" ? 404 : 503, "The hub refused", `${e.message} (${e.code})`);
    throw e;
  });

  app.get("/", async (c) => render(c, "Your tasks", homePage(await backend.tasks(), csrf(c))));
  app.get("/tasks", async (c) => c.html(taskRows(await backend.tasks()).text));

  app.post("/submit", async (c) => {
    const posted = await postedForm(c);
    if (!posted.ok) return posted.refusal;
    const form = readSubmitForm(posted.form);
    const checked = checkSubmitForm(form);
    const again = async (errors: Parameters<typeof homePage>[3]) => {
      const body = homePage(await backend.tasks(), csrf(c), form, errors);
      return c.html(page("Your tasks", "tremesh", who, body).text, 400);
    };
    if (!checked.ok) return again(checked.errors);
    const reply = await backend.submit(checked.submission);
    if (reply.status === "rejected")
      return again({ hub: `the hub refused it (${reply.code}): ${reply.message}` });
    askEarly(reply.taskId);
    return c.redirect(`/task/${reply.taskId}`, 303);
  });

  app.get("/open", (c) => {
    // Case-blind, as ULIDs and the CLI's task ids are: a copied id may have been lower-cased on the way.
    const taskId = (c.req.query("task") ?? "").trim().toUpperCase();
    if (!isTaskId(taskId)) return problem(c, 400, "Not a task id", "A task id is 26 letters and digits.");
    return c.redirect(`/task/${taskId}`, 303);
  });

  const taskParam = (c: Context) => {
    const taskId = c.req.param("taskId") ?? "";
    return isTaskId(taskId) ? taskId : undefined;
  };

  app.get("/task/:taskId", async (c) => {
    const taskId = taskParam(c);
    if (!taskId) return problem(c, 404, "No such task", "That is not a task id.");
    const task = await taskView(taskId);
    return render(c, task.title ?? taskId, taskPage(task, await resultsOf(task)));
  });

  // With `?v=` (the version of the view the page shows), answered once the task moves on: the page learns of a
  // change as the hub does, and asks again at once with the version it is sent.
  app.get("/task/:taskId/live", async (c) => {
    const taskId = taskParam(c);
    if (!taskId) return problem(c, 404, "No such task", "That is not a task id.");
    const v = c.req.query("v");
    const change = v && /^[0-9a-f]{1,64}$/.test(v) ? { changedFrom: v, waitMs: LIVE_WAIT_MS } : undefined;
    const task = await backend.task(taskId, change);
    if (task.version) c.header("x-tremesh-version", task.version);
    return c.html(taskLive(task, await resultsOf(task)).text);
  });

  // A plot or file of an ended task, asked for by a page this process did not render (opened before a restart of
  // `tremesh ui`, or a saved link): its results are fetched then, not only remembered from the task's page.
  const endedResults = async (c: Context) => {
    const taskId = taskParam(c);
    if (!taskId) return undefined;
    return ended.get(taskId) ?? resultsOf(await backend.task(taskId));
  };

  app.get("/task/:taskId/plot/:index{[0-9]+\\.svg}", async (c) => {
    const r = await endedResults(c);
    const result = r?.combined[Number.parseInt(c.req.param("index"), 10)]?.result;
    const svg = result ? toSvg(result) : null;
    if (!svg) return problem(c, 404, "No plot", "This task has no such plot.");
    return c.body(svg, 200, { "content-type": "image/svg+xml; charset=utf-8" });
  });

  app.get("/task/:taskId/file/:index{[0-9]+}", async (c) => {
    const file = (await endedResults(c))?.files[Number(c.req.param("index"))];
    if (!file) return problem(c, 404, "No such file", "This task has no such released file.");
    const safeName = `${file.tre}-${file.name}`.replace(/[^A-Za-z0-9._-]/g, "_");
    return c.body(Buffer.from(file.data), 200, {
      "content-type": "application/octet-stream",
      "content-disposition": `attachment; filename="${safeName}"`,
    });
  });

  return app;
}
