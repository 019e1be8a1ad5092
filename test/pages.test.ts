/**
 * The pages in a real browser. The reviewer's page (`tremesh airlock serve`): Debian's Chromium, driven by playwright-core,
 * against a real federation over TLS. A reviewer opens the queue, sees a new task arrive without a reload, sees
 * a flagged cell highlighted with its rule, releases the checked form of one output and rejects another with a
 * reason (signed as `tremesh airlock approve|reject` sign); hostile strings render inert; a decision without the
 * CSRF token or the session is refused; every view and decision is in the TRE's audit log with the reviewer.
 * Two reviewers' reviews are blind in what the airlock answers (the page and `tremesh airlock show`).
 * The researcher's page (`tremesh ui`): a task followed live to `completed`, then its combined table with bounds; a
 * reviewer's message with a rejection there and in `tremesh status`; her tasks as the hub lists them.
 * The screenshots in docs/ are checked against the pages as this run renders them (`screenshot`).
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAuditRecord } from "../audit/index.js";
import { type AirlockServer, startAirlockServer } from "../cli/airlock-serve.js";
import { PAGE_CSS } from "../cli/page-assets.js";
import { startResearcherServer } from "../cli/ui-command.js";
import type { ExecutorOutput } from "../executors/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import {
  type AnalysisSpec,
  analysisOutput,
  encodeOutput,
  OUTPUT_MEDIA_TYPE,
  streams,
} from "../protocol/index.js";
import { airlockOnLeaf, FINE_COUNT, REGION_COUNT } from "./harness/airlock-fixtures.js";
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from "./harness/browser.js";
import { approveProject, childReaches, type Federation, startFederation } from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { uniqueToken } from "./harness/unique.js";

const DOCS = join(import.meta.dirname, "..", "docs");
const SCREENSHOT = "airlock-review-page.png";
const CONFLICT_SCREENSHOT = "airlock-review-conflict.png";
const RESEARCHER_SCREENSHOT = "researcher-page.png";
const TASKS_SCREENSHOT = "researcher-tasks.png";
const SCREENSHOTS = [SCREENSHOT, CONFLICT_SCREENSHOT, RESEARCHER_SCREENSHOT, TASKS_SCREENSHOT];
/** Beside the screenshots: the fingerprint of the page each one shows (`pageFingerprint`). */
const FINGERPRINTS = join(DOCS, "screenshots.json");
const UPDATE_SCREENSHOTS = process.env.TREMESH_UPDATE_SCREENSHOTS === "1";
const REFRESH_SCREENSHOTS = "TREMESH_UPDATE_SCREENSHOTS=1 npx vitest run test/pages.test.ts";
const REVIEWER = "reviewer-a-rita";
/** Every way a string could try to become markup or script: tags, attribute breakers, quotes, backticks. */
const HOSTILE = `<script>window.__pwned=1</script>"><img src=x onerror="window.__pwned=2">'\`<b>`;

let fed: Federation;
let server: AirlockServer;
let browser: Browser;
let page: Page;

const VIEWPORT = { width: 1440, height: 900 };
/** Pages started besides the first reviewer's, closed at the end. */
const servers: AirlockServer[] = [];

async function submit(analysis: AnalysisSpec, title: string, tre = "a"): Promise<string> {
  const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(analysis));
  const r = await fed.cli(
    ["submit", "--project", "diabetes", "--tres", tre, "--title", title, file],
    "alice",
  );
  expect(r.err).toEqual([]);
  return r.out[0]!;
}

/** Each screenshot's name → the fingerprint of the page it shows, as this run rendered it. */
const rendered = new Map<string, string>();

/**
 * What a page shows, reduced to what stays the same from run to run: its DOM as the browser holds it, with
 * task and output ids, times, digests and the session's CSRF token masked (and without the refresh script's
 * copy of a part's last text), together with the stylesheet and the window size. Pixels are not compared:
 * they differ with every id and time, and with the fonts of the machine.
 */
async function pageFingerprint(p: Page): Promise<string> {
  const dom = await p.evaluate(`(() => {
    const root = document.documentElement.cloneNode(true);
    for (const el of root.querySelectorAll("[data-last]")) el.removeAttribute("data-last");
    for (const el of root.querySelectorAll("input[name=csrf]")) el.setAttribute("value", "");
    return root.outerHTML;
  })()`);
  const masked = String(dom)
    .replace(/[0-9A-HJKMNP-TV-Z]{26}/g, "«id»")
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?Z/g, "«time»")
    .replace(/[0-9a-f]{12,64}/g, "«digest»");
  return createHash("sha256")
    .update(JSON.stringify({ viewport: VIEWPORT, css: PAGE_CSS, dom: masked }))
    .digest("hex");
}

/**
 * A screenshot for docs/ and the README, with its page's fingerprint kept for the check that they are not stale
 * (the last test). Written when missing, or when TREMESH_UPDATE_SCREENSHOTS=1 (after changing a page), which
 * rewrites docs/screenshots.json too; ordinary runs leave docs/ as it is.
 */
async function screenshot(p: Page, name: string): Promise<void> {
  rendered.set(name, await pageFingerprint(p));
  const path = join(DOCS, name);
  if (UPDATE_SCREENSHOTS || !existsSync(path)) await writeFile(path, await p.screenshot());
}

/** Another reviewer's own page, in a browser context of their own (their own session cookie). */
async function reviewerPage(profile: string): Promise<{ server: AirlockServer; page: Page }> {
  const server = await startAirlockServer({ profile: (await fed.profile(profile)).file, port: 0 });
  servers.push(server);
  const page = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
  await page.goto(server.loginUrl);
  return { server, page };
}

/** Holds a task no executor made, with hostile title, output name and group labels, in TRE a's airlock. */
async function holdHostileTask(): Promise<string> {
  const { airlock, taskId } = await airlockOnLeaf(fed, "a");
  const description = analysisOutput(
    {
      kind: "count",
      dataset: "patients",
      analysis: { kind: "count", dataset: "patients", groupBy: ["region"] },
      groupBy: ["region"],
      cells: [
        { key: [HOSTILE], n: 3 },
        { key: [`${HOSTILE}${"x".repeat(900)}`], n: 40 },
      ],
    },
    "",
  );
  const output: ExecutorOutput = {
    name: "hostile.json",
    mediaType: OUTPUT_MEDIA_TYPE,
    bytes: encodeOutput(description),
    description,
  };
  // A container's CSV file, which no check can judge: previewed with per-column figures.
  const csv: ExecutorOutput = {
    name: "table.csv",
    mediaType: "text/csv",
    bytes: new TextEncoder().encode(`region,n\n"${HOSTILE.replaceAll('"', '""')}",15\ncity,3\n,20\n`),
  };
  await airlock.hold({ taskId, project: "diabetes", researcher: "alice", kind: "count", title: HOSTILE }, [
    output,
    csv,
  ]);
  return taskId;
}

async function auditRecords(): Promise<
  { actor: string; action: string; taskId?: string; outputId?: string }[]
> {
  const jsm = await jetstreamManager(fed.leaves.get("a")!.ctrl);
  const { state } = await jsm.streams.info(streams.audit);
  const out = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(streams.audit, { seq });
    const decoded = msg ? decodeAuditRecord(msg.data) : undefined;
    if (decoded?.ok) out.push(decoded.record);
  }
  return out;
}

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    reviewers: ["rita", "sam", "tom"],
    startLeaves: [],
    // The TREs' default disclosure control (minimum cell 10, rounding 5), not the exact figures of other tests.
    leafExtra: (tre) => {
      const { disclosure: _exact, ...leaf } = exactPatientsLeaf(tre, {
        project: "diabetes",
        analyses: ["count", "histogram"],
      });
      return { ...leaf, ...(tre === "b" ? { review: { approvalsRequired: 2 } } : {}) };
    },
  });
  for (const tre of ["a", "b"]) {
    await writePatientsCsv(
      generatePatients(patientProfiles.small, 11),
      join(fed.files.dir, `patients-${tre}.csv`),
    );
    await fed.startLeaf(tre);
  }
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
  server = await startAirlockServer({ profile: (await fed.profile(REVIEWER)).file, port: 0 });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: VIEWPORT });
  page.on("dialog", (d) => {
    throw new Error(`a dialog opened: ${d.message()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  for (const s of servers) await s.close();
  await fed?.[Symbol.asyncDispose]();
});

describe.skipIf(!HAVE_CHROMIUM)(
  `the pages in Chromium${HAVE_CHROMIUM ? "" : ` (skipped: no ${CHROMIUM})`}`,
  () => {
    let fine: string;
    let regions: string;
    let twoReviewers: string;

    it("listens on loopback only", async () => {
      const r = await fed.cli(["airlock", "serve", "--host", "0.0.0.0", "--port", "0"], REVIEWER);
      expect(r.code).toBe(2);
      expect(r.err.join("\n")).toContain("loopback only");
      expect(new URL(server.url).hostname).toBe("127.0.0.1");
      // The federation under the page runs over TLS (the reviewer reaches their own leaf on its loopback).
      expect((await fed.profile("alice")).url).toMatch(/^tls:\/\//);
    });

    it("opens with the one-time login URL and refuses it a second time", async () => {
      const response = await page.goto(server.loginUrl);
      expect(response?.status()).toBe(200);
      expect(new URL(page.url()).pathname).toBe("/");
      expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
      await expect(page.locator("h1").textContent()).resolves.toBe("Awaiting your review");
      expect((await fetch(server.loginUrl)).status).toBe(401);
    });

    it("shows tasks arriving in the queue without a reload", async () => {
      fine = await submit(FINE_COUNT, "patients by region, sex, smoking and diabetes");
      regions = await submit(REGION_COUNT, "patients by region");
      await childReaches(fed, fine, "a", "outputs_pending_review");
      await childReaches(fed, regions, "a", "outputs_pending_review");
      // The page was loaded before the tasks existed: they appear by its own refresh.
      await page.locator(`tr[data-task="${fine}"]`).waitFor({ timeout: 15_000 });
      await page.locator(`tr[data-task="${regions}"]`).waitFor({ timeout: 15_000 });
      await expect(page.locator(`tr[data-task="${fine}"] .outcome-fail`).count()).resolves.toBe(1);
    });

    it("highlights a flagged cell with its rule, threshold and value, beside the releasable form", async () => {
      await page.click(`tr[data-task="${fine}"] a`);
      const flagged = page.locator("td.flag-fail").first();
      await expect(flagged.locator(".rule").textContent()).resolves.toBe("min_cell");
      const why = (await flagged.locator(".why").textContent()) ?? "";
      expect(why).toMatch(/10/);
      await expect(page.locator(".side-by-side h3").allTextContents()).resolves.toEqual([
        "As the executor made it",
        "Releasable form",
        "Decision",
      ]);
      await expect(
        page.locator(".side-by-side > div:nth-child(2) td", { hasText: "withheld" }).count(),
      ).resolves.toBeGreaterThan(0);
      await screenshot(page, SCREENSHOT);
    });

    it("refuses a decision without the CSRF token, or without the session", async () => {
      const form = (await page.locator("form.release-checked").getAttribute("action"))!;
      const seen = (await page.locator("form.release-checked input[name=seen]").getAttribute("value"))!;
      const csrf = (await page.locator("form.release-checked input[name=csrf]").getAttribute("value"))!;
      const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
      const post = (headers: Record<string, string>, body: Record<string, string>) =>
        fetch(new URL(form, server.url), {
          method: "POST",
          redirect: "manual",
          headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
          body: new URLSearchParams(body),
        });
      const decision = { decision: "release-checked", seen };
      expect((await post({ cookie }, decision)).status).toBe(403);
      expect((await post({ cookie }, { ...decision, csrf: "x".repeat(csrf.length) })).status).toBe(403);
      expect((await post({}, { ...decision, csrf })).status).toBe(401);
      expect((await post({ cookie: "tremesh_review=forged" }, { ...decision, csrf })).status).toBe(401);
      // Nothing was decided by those.
      await page.reload();
      await expect(page.locator("form.release-checked").count()).resolves.toBe(1);
    });

    it("releases the checked form of one output and rejects another with a reason, signed as the CLI signs", async () => {
      await page.click("form.release-checked button");
      await page.locator(".decisions li", { hasText: "released the checked form" }).waitFor();
      await page.goto(new URL(`/task/${regions}`, server.url).href);
      await page.fill("form.reject input[name=reason]", "a test rejection: <not a tag>");
      await page.click("form.reject button");
      await page.locator(".decisions li", { hasText: "a test rejection: <not a tag>" }).waitFor();
      await childReaches(fed, fine, "a", "released");
      await childReaches(fed, regions, "a", "withheld");

      const show = async (taskId: string) => {
        const r = await fed.cli(["airlock", "show", taskId, "--json"], REVIEWER);
        return JSON.parse(r.out.join("\n")) as {
          outputs: {
            digest: string;
            releasableDigest?: string;
            decisions: { reviewer: string; verdict: string; digest: string; reason?: string }[];
          }[];
        };
      };
      const [approved] = (await show(fine)).outputs;
      expect(approved!.decisions).toEqual([
        expect.objectContaining({ reviewer: "rita", verdict: "approve", digest: approved!.releasableDigest }),
      ]);
      const [rejected] = (await show(regions)).outputs;
      expect(rejected!.decisions).toEqual([
        expect.objectContaining({
          reviewer: "rita",
          verdict: "reject",
          digest: rejected!.digest,
          reason: "a test rejection: <not a tag>",
        }),
      ]);
    }, 180_000);

    it("renders hostile titles and labels as inert text", async () => {
      const hostile = await holdHostileTask();
      await page.goto(server.url);
      await page.locator(`tr[data-task="${hostile}"]`).waitFor();
      await expect(page.locator(`tr[data-task="${hostile}"] a`).textContent()).resolves.toBe(HOSTILE);
      await page.click(`tr[data-task="${hostile}"] a`);
      await expect(page.locator("h1").textContent()).resolves.toBe(HOSTILE);
      await expect(page.locator("table.output th[scope=row]").first().textContent()).resolves.toBe(HOSTILE);
      const csvRow = page.locator("table.csv-stats tr", { hasText: /^n/ });
      await expect(csvRow.locator("td").allTextContents()).resolves.toEqual(["3", "3", "20", "0", "no"]);
      await expect(page.locator("table.csv td").first().textContent()).resolves.toBe(HOSTILE);
      await expect(page.locator("img").count()).resolves.toBe(0);
      await expect(page.locator("main b", { hasText: /^$/ }).count()).resolves.toBe(0);
      await expect(page.evaluate("window.__pwned")).resolves.toBeUndefined();
    });

    it("keeps two reviewers blinded until both decide, shows their disagreement as conflicted, and a third settles it", async () => {
      const taskId = await submit(FINE_COUNT, "two reviewers", "b");
      twoReviewers = taskId;
      await childReaches(fed, taskId, "b", "outputs_pending_review");
      const [rita, sam, tom] = [
        await reviewerPage("reviewer-b-rita"),
        await reviewerPage("reviewer-b-sam"),
        await reviewerPage("reviewer-b-tom"),
      ];
      const open = (r: { server: AirlockServer; page: Page }) =>
        r.page.goto(new URL(`/task/${taskId}`, r.server.url).href);

      await open(rita);
      await rita.page.click("form.release-checked button");
      await rita.page.locator(".decisions li", { hasText: "rita: released the checked form" }).waitFor();

      // Sam sees that someone decided, not who or how.
      await open(sam);
      await expect(sam.page.locator(".blinded").textContent()).resolves.toContain(
        "1 other reviewer has decided",
      );
      await expect(sam.page.locator(".decisions").count()).resolves.toBe(0);
      expect(await sam.page.locator("main").textContent()).not.toContain("rita");
      // The blinding is the airlock's, not the page's: sam's `tremesh airlock show` is told no more.
      const samShows = await fed.cli(["airlock", "show", taskId, "--json"], "reviewer-b-sam");
      expect(JSON.parse(samShows.out.join("\n")).outputs[0]).toMatchObject({ decisions: [], hidden: 1 });
      expect(samShows.out.join("\n")).not.toContain("rita");
      await sam.page.fill("form.release-as-is input[name=reason]", "aggregate over a whole region");
      await sam.page.click("form.release-as-is button");
      await sam.page.locator(".conflicted").waitFor();
      await expect(sam.page.locator(".decisions li").allTextContents()).resolves.toEqual([
        expect.stringContaining("rita: released the checked form"),
        expect.stringContaining("sam: released as it is — aggregate over a whole region"),
      ]);

      // Approvals of different bytes release nothing: the output stays pending, conflicted, until a third decides.
      await open(tom);
      await tom.page.locator(".conflicted").waitFor();
      await screenshot(tom.page, CONFLICT_SCREENSHOT);
      // A second tab of tom's, left open on the conflict, decides too late: the reason typed there is kept to copy.
      const lateTab = await tom.page.context().newPage();
      await lateTab.goto(new URL(`/task/${taskId}`, tom.server.url).href);
      await tom.page.click("form.release-checked button");
      await childReaches(fed, taskId, "b", "released");
      const late = "on second thoughts: region 4 is too small";
      await lateTab.fill("form.reject input[name=reason]", late);
      await lateTab.click("form.reject button");
      await expect(lateTab.locator("h1").textContent()).resolves.toBe("The airlock refused");
      await expect(lateTab.locator("textarea.kept").inputValue()).resolves.toBe(late);
      await lateTab.click("text=back to the task");
      await expect(lateTab.locator(".decisions li").allTextContents()).resolves.toContainEqual(
        expect.stringContaining("tom: released the checked form"),
      );
      await lateTab.close();
    }, 180_000);

    it("records every view of an output and every decision in the TRE's audit log, with the reviewer", async () => {
      const records = await auditRecords();
      const by = (action: string, taskId: string) =>
        records.filter((r) => r.action === action && r.taskId === taskId && r.actor === "reviewer:rita");
      expect(by("airlock.view", fine).length).toBeGreaterThan(0);
      expect(by("airlock.approve", fine)).toHaveLength(1);
      expect(by("airlock.reject", regions)).toHaveLength(1);
    });

    it("follows a task on the researcher's page until it completes, then shows the combined table with bounds", async () => {
      await using ui = await startResearcherServer({ profile: (await fed.profile("alice")).file, port: 0 });
      const alice = await (await browser.newContext({ viewport: VIEWPORT })).newPage();
      await alice.goto(ui.loginUrl);
      // The submission form checks as `tremesh submit` does, and shows the error at its field.
      await alice.fill("input[name=project]", "diabetes");
      await alice.fill("input[name=tres]", "a");
      await alice.fill("input[name=title]", "regions, followed on the researcher's page");
      await alice.fill(
        "textarea[name=analysis]",
        '{ "kind": "count", "dataset": "patients", "groupBy": "region" }',
      );
      await alice.click("form.submit button");
      await expect(alice.locator('.field-error[data-field="analysis"]').textContent()).resolves.toContain(
        "analysis.groupBy",
      );
      await expect(alice.locator("input[name=tres]").inputValue()).resolves.toBe("a");
      await alice.fill("textarea[name=analysis]", JSON.stringify(REGION_COUNT));
      await alice.click("form.submit button");
      await alice.waitForURL(/\/task\/[0-9A-Z]{26}$/);
      const taskId = new URL(alice.url()).pathname.split("/")[2]!;
      // Without the form's CSRF token, nothing is submitted.
      const cookie = (await alice.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
      const forged = await fetch(new URL("/submit", ui.url), {
        method: "POST",
        redirect: "manual",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ project: "diabetes", tres: "a", analysis: JSON.stringify(REGION_COUNT) }),
      });
      expect(forged.status).toBe(403);
      await alice.locator('tr[data-tre="a"] td.state', { hasText: "outputs_pending_review" }).waitFor();
      await expect(alice.locator("[data-final]").count()).resolves.toBe(0);

      // The reviewer approves at the CLI; the researcher's open page follows without a reload.
      expect((await fed.cli(["airlock", "approve", taskId], REVIEWER)).code).toBe(0);
      await alice.locator(".parent-state", { hasText: "completed" }).waitFor({ timeout: 60_000 });
      await alice.locator("[data-final]").waitFor();
      await expect(alice.locator(`tr[data-tre="a"] .history`).textContent()).resolves.toContain(
        "released tre:a/airlock",
      );
      // TRE a rounds counts to 5: the combined table shows each count as the range it stands for.
      await expect(alice.locator("pre.combined").textContent()).resolves.toMatch(/\d+–\d+/);
      await screenshot(alice, RESEARCHER_SCREENSHOT);

      // The reviewer's message with a rejection reaches the researcher: on their page, with the Release and in
      // the TRE's history of the task, and in `tremesh status`, as text and as JSON.
      const message = "a test rejection: <not a tag>";
      await alice.goto(new URL(`/task/${regions}`, ui.url).href);
      await expect(alice.locator(".withheld").textContent()).resolves.toContain(message);
      await expect(alice.locator('tr[data-tre="a"] .history').textContent()).resolves.toContain(
        `withheld after review: count.json — rita: ${message}`,
      );
      const statusText = await fed.cli(["status", regions], "alice");
      expect(statusText.out.join("\n")).toContain(
        `tre:a/airlock — 1 output(s) withheld after review: count.json — rita: ${message}`,
      );
      const statusJson = JSON.parse((await fed.cli(["status", regions, "--json"], "alice")).out.join("\n"));
      expect(statusJson.children[0].history.at(-1)).toMatchObject({
        state: "withheld",
        reason: expect.stringContaining(`rita: ${message}`),
      });

      // A histogram's combined result comes with its plot, served by the page as an image.
      const ages = await submit(
        { kind: "histogram", dataset: "patients", column: "age", bins: { min: 20, max: 90, count: 7 } },
        "ages",
      );
      await childReaches(fed, ages, "a", "outputs_pending_review");
      expect((await fed.cli(["airlock", "approve", ages], REVIEWER)).code).toBe(0);
      await alice.goto(new URL(`/task/${ages}`, ui.url).href);
      await alice.locator("[data-final]").waitFor({ timeout: 60_000 });
      const plot = alice.locator("img.plot");
      await plot.waitFor();
      await expect(
        plot.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      ).resolves.toBeGreaterThan(0);

      // Her tasks, listed by the hub, each TRE's state beside each; every one has ended by now.
      await alice.goto(ui.url);
      await alice.locator(`#tasks tr[data-task="${ages}"] td.state`, { hasText: "completed" }).waitFor();
      const rows = await alice.locator("#tasks tr[data-task]").all();
      const listedOnPage = await Promise.all(rows.map((row) => row.getAttribute("data-task")));
      expect(listedOnPage).toEqual([ages, taskId, twoReviewers, regions, fine]);
      await expect(alice.locator(`#tasks tr[data-task="${regions}"]`).textContent()).resolves.toContain(
        "a: withheld",
      );
      const listed = JSON.parse((await fed.cli(["status", "--json"], "alice")).out.join("\n"));
      expect(listed.map((t: { taskId: string }) => t.taskId)).toEqual([
        ages,
        taskId,
        twoReviewers,
        regions,
        fine,
      ]);
      await screenshot(alice, TASKS_SCREENSHOT);

      // A hostile title is text on the researcher's page too.
      const hostile = await submit(REGION_COUNT, HOSTILE);
      await alice.goto(new URL(`/task/${hostile}`, ui.url).href);
      await expect(alice.locator("h1").textContent()).resolves.toBe(HOSTILE);
      await expect(alice.locator("img").count()).resolves.toBe(0);
      await expect(alice.evaluate("window.__pwned")).resolves.toBeUndefined();
    }, 180_000);

    it("has screenshots in docs/, shown in the README, of the pages as they look now", async () => {
      const recorded: Record<string, string> = existsSync(FINGERPRINTS)
        ? JSON.parse(await readFile(FINGERPRINTS, "utf8")).screenshots
        : {};
      if (UPDATE_SCREENSHOTS) {
        const screenshots = Object.fromEntries(SCREENSHOTS.map((n) => [n, rendered.get(n) ?? recorded[n]]));
        const about = `sha256 of what each screenshot shows (test/pages.test.ts, pageFingerprint); refresh: ${REFRESH_SCREENSHOTS}`;
        await writeFile(FINGERPRINTS, `${JSON.stringify({ about, screenshots }, null, 2)}\n`);
        return;
      }
      const readme = await readFile(join(DOCS, "..", "README.md"), "utf8");
      const problems = SCREENSHOTS.flatMap((name) => {
        const now = rendered.get(name);
        if (now === undefined) return [`docs/${name}: not taken (a test before this one failed)`];
        if (!readme.includes(`](docs/${name})`)) return [`docs/${name}: the README does not show it`];
        if (recorded[name] !== now)
          return [
            `docs/${name} is stale: the page it shows has changed; refresh with ${REFRESH_SCREENSHOTS}`,
          ];
        return [];
      });
      expect(problems).toEqual([]);
    });
  },
);
