import { describe, expect, it } from "vitest";
import type { AirlockOutputView, AirlockTaskView } from "../protocol/index.js";
import { airlockPage, type ReviewBackend } from "./airlock-page.js";
import { AirlockRequestError } from "./airlock-requests.js";

const HOST = "127.0.0.1:8765";
const TASK = "01M997B89V09M59P43YK7GG532";
const OUTPUT = "01M997B89V09M59P43YK7GG533";

const output: AirlockOutputView = {
  outputId: OUTPUT,
  name: "result.json",
  mediaType: "application/json",
  digest: "ab".repeat(32),
  size: 10,
  createdAt: Date.parse("2026-12-07T21:42:50.429Z"),
  outcome: "review",
  findings: [],
  releasableDigest: "cd".repeat(32),
  state: "pending",
  decisions: [],
};

const task: AirlockTaskView = {
  taskId: TASK,
  state: "outputs_pending_review",
  project: "demo",
  researcher: "alice",
  kind: "count",
  heldAt: Date.parse("2026-12-07T21:42:51.000Z"),
  outputs: [output],
};

/** The review page over a backend holding one task, logged in: a GET and a form POST with the session's token. */
async function reviewing(decide: ReviewBackend["decide"]) {
  const backend: ReviewBackend = {
    reviewer: "rita",
    tre: "north",
    list: async () => [task],
    show: async () => task,
    decide,
  };
  const app = airlockPage(backend, { loginToken: "t0ken", allowedHosts: [HOST] });
  const login = await app.request("/login?token=t0ken", { headers: { host: HOST } });
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
  const get = (path: string) => app.request(path, { headers: { host: HOST, cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(await (await get(`/task/${TASK}`)).text())?.[1] ?? "";
  expect(csrf).not.toBe("");
  const post = (fields: Record<string, string>) =>
    app.request(`/task/${TASK}/output/${OUTPUT}/decide`, {
      method: "POST",
      headers: { host: HOST, cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ csrf, seen: output.digest, ...fields }).toString(),
    });
  return { app, get, post };
}

/** The links of a page: each `href` with its words. */
const links = (page: string) =>
  [...page.matchAll(/<a href="([^"]*)">([^<]*)<\/a>/g)].map((m) => [m[1], m[2]]);

describe("the review page's refusals", () => {
  it("lead back to the output decided on, not to the queue", async () => {
    const { post } = await reviewing(async () => {
      throw new AirlockRequestError("already_decided", "another reviewer decided this output first");
    });
    const noReason = await post({ decision: "reject", reason: " " });
    expect(noReason.status).toBe(400);
    expect(links(await noReason.text())).toEqual([[`/task/${TASK}#output-${OUTPUT}`, "back to the task"]]);
    // Refused by the airlock itself (the backend's answer), too.
    const late = await post({ decision: "release-checked" });
    expect(late.status).toBe(409);
    const text = await late.text();
    expect(text).toContain("another reviewer decided this output first (already_decided)");
    expect(links(text)).toEqual([[`/task/${TASK}#output-${OUTPUT}`, "back to the task"]]);
    // Nothing was typed, so nothing is kept.
    expect(text).not.toContain("<textarea");
  });

  it("show the reason the reviewer typed, which the form no longer holds", async () => {
    const typed = "Row 3 has a cell of 4 & <one> under the threshold; rounding does not hide it";
    const { post } = await reviewing(async () => {
      throw new AirlockRequestError("no_answer", "the airlock did not answer; try again");
    });
    const refused = await post({ decision: "reject", reason: `  ${typed}\n` });
    expect(refused.status).toBe(503);
    const text = await refused.text();
    expect(text).toContain("the airlock did not answer; try again (no_answer)");
    const kept = /<textarea class="kept" readonly[^>]*>([^<]*)<\/textarea>/.exec(text)?.[1];
    expect(kept).toBe(
      "Row 3 has a cell of 4 &amp; &lt;one&gt; under the threshold; rounding does not hide it",
    );
    expect(links(text)).toEqual([[`/task/${TASK}#output-${OUTPUT}`, "back to the task"]]);
    // Refused by the page before the airlock was asked: kept as well.
    const stale = await post({ decision: "release-as-is", reason: typed, seen: "ef".repeat(32) });
    expect(stale.status).toBe(409);
    expect(await stale.text()).toContain("&lt;one&gt; under the threshold");
  });

  it("say a task the airlock does not hold is not held there, in the airlock's words naming the TRE", async () => {
    const backend: ReviewBackend = {
      reviewer: "rita",
      tre: "north",
      list: async () => [],
      show: async (taskId) => {
        throw new AirlockRequestError("not_found", `no task ${taskId} in TRE north's airlock`);
      },
      decide: async () => output,
    };
    const page = airlockPage(backend, { loginToken: "t0ken", allowedHosts: [HOST] });
    const login = await page.request("/login?token=t0ken", { headers: { host: HOST } });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const missing = await page.request(`/task/${OUTPUT}`, { headers: { host: HOST, cookie } });
    expect(missing.status).toBe(404);
    const text = await missing.text();
    expect(text).toContain("<h1>Not held in this airlock</h1>");
    expect(text).toContain(`no task ${OUTPUT} in TRE north&#39;s airlock (not_found)`);
  });

  it("offer no decision on an output of a task cancelled before review, and say why; it is history, not queued", async () => {
    const cancelled: AirlockTaskView = { ...task, state: "cancelled" };
    const backend: ReviewBackend = {
      reviewer: "rita",
      tre: "north",
      list: async () => [cancelled],
      show: async () => cancelled,
      decide: async () => output,
    };
    const page = airlockPage(backend, { loginToken: "t0ken", allowedHosts: [HOST] });
    const login = await page.request("/login?token=t0ken", { headers: { host: HOST } });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const get = async (path: string) =>
      (await page.request(path, { headers: { host: HOST, cookie } })).text();
    const shown = await get(`/task/${TASK}`);
    expect(shown).not.toContain("<form");
    expect(shown).toContain(
      "Never decided: the task is cancelled at this TRE, so nothing of it is released and no decision can be made.",
    );
    expect(shown).toContain(">never decided</span>");
    expect(await get("/")).toContain("Nothing awaits your review.");
    expect(await get("/history")).toContain("result.json: never decided");
    // The same output while its task awaits review has the forms.
    const awaiting = await (await reviewing(async () => output)).get(`/task/${TASK}`);
    expect(await awaiting.text()).toContain('class="release-checked"');
  });

  it("lead to the queue from elsewhere, and nowhere for a browser not logged in", async () => {
    const { app, get } = await reviewing(async () => output);
    const missing = await get("/task/not-a-task");
    expect(missing.status).toBe(404);
    expect(links(await missing.text())).toEqual([["/", "back to the queue"]]);
    // Without the session a link into the page would be refused again: the page says what to do instead.
    const stranger = await app.request("/", { headers: { host: HOST } });
    expect(stranger.status).toBe(401);
    const text = await stranger.text();
    expect(text).toContain("Open the login link that &#96;tremesh airlock serve&#96; printed.");
    expect(links(text)).toEqual([]);
  });
});
