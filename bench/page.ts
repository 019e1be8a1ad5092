/**
 * The researcher's page as a researcher uses it, in Chromium: the submission form filled in and sent, then the
 * task's page followed until it shows the combined table. The clock runs from the browser sending the form
 * (the wall clock the browser stamps the request with) to the combined table in the page. Beside each page task,
 * the same count run directly with the aggregator's functions (count-task.ts, the end-to-end figure), so the two
 * share the run's conditions: the difference is what the page adds, the browser, the page's server and its live
 * refreshes.
 *
 *   npm run bench -- page
 */
import { startResearcherServer } from "../cli/ui-command.js";
import { CHROMIUM, HAVE_CHROMIUM, launchChromium } from "../test/harness/browser.js";
import { BENCH_PROJECT, BENCH_RESEARCHER, COUNT_BY_SEX, startBenchFederation } from "./bench-federation.js";
import { runCountTask } from "./count-task.js";
import type { FloorResult } from "./floor.js";
import { formatLatency, latency, machine, ratio } from "./measure.js";

const TRES = 3;

/** Runs first in every document: the wall-clock times (epoch ms, as the request timings) of its two moments. */
const STAMPS = `{
  const stamps = (window.tremeshBench = {});
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener("DOMContentLoaded", () => { stamps.loaded = now(); });
  new MutationObserver((_, observer) => {
    if (!document.querySelector("[data-final] pre.combined")) return;
    stamps.shown = now();
    observer.disconnect();
  }).observe(document, { childList: true, subtree: true });
}`;

export interface PageBenchOptions {
  /** Timed tasks through the page, each beside one run directly. Default 30. */
  tasks?: number;
  /** Untimed rounds first (the browser's and the page server's first loads). Default 5. */
  warmUp?: number;
}

export type PageBenchResult = Awaited<ReturnType<typeof runPageBench>>;

export async function runPageBench(floor: FloorResult, { tasks = 30, warmUp = 5 }: PageBenchOptions = {}) {
  if (!HAVE_CHROMIUM) throw new Error(`the page benchmark needs Chromium at ${CHROMIUM} (scripts/setup.mjs)`);
  await using b = await startBenchFederation({ tres: TRES });
  // The steady state: past the set-up transient of the results sources (see BenchFederation.settle).
  await b.settle();
  await using ui = await startResearcherServer({ profile: b.fed.files.profiles[BENCH_RESEARCHER], port: 0 });
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    // Stamped in the page, as it happens (Playwright's own waits poll, up to 100 ms apart): when a task's page
    // has been parsed, and when the combined table first appears in it.
    await context.addInitScript({ content: STAMPS });
    const page = await context.newPage();
    await page.goto(ui.loginUrl);
    const home = new URL("/", ui.url).href;
    const shown: number[] = [];
    const answered: number[] = [];
    const direct: number[] = [];
    for (let i = 0; i < warmUp + tasks; i++) {
      await page.goto(home);
      await page.fill("input[name=project]", BENCH_PROJECT);
      await page.fill("input[name=tres]", b.tres.join(","));
      await page.fill("input[name=title]", `page benchmark ${i}`);
      await page.fill("textarea[name=analysis]", JSON.stringify(COUNT_BY_SEX));
      const posted = page.waitForRequest((r) => r.method() === "POST");
      await page.click("form.submit button");
      // The clock starts when the browser sends the form: the ~50 ms Playwright takes to click is the driver's.
      const start = (await posted).timing().startTime;
      await page.locator("[data-final] pre.combined").waitFor({ timeout: 60_000 });
      // The combined table can be in the task's page as first sent, before the page has been parsed: both stamps.
      await page.waitForLoadState("domcontentloaded");
      const { loaded, shown: end } = (await page.evaluate("window.tremeshBench")) as {
        loaded: number;
        shown: number;
      };
      const run = await runCountTask(b, b.tres);
      if (i < warmUp) continue;
      shown.push(end - start);
      answered.push(loaded - start);
      direct.push(run.totalMs);
    }
    const page50 = latency(shown);
    const direct50 = latency(direct);
    return {
      bench: "page",
      machine: machine(),
      tres: TRES,
      analysis: COUNT_BY_SEX,
      setupMs: Math.round(b.setupMs),
      /** The form sent → the combined table in the page. */
      page: page50,
      /** The form sent → the task's page loaded (the hub's `accepted` answer, the redirect, the page). */
      taskPageLoaded: latency(answered),
      /** The same count run directly in this process, beside each page task (the end-to-end figure). */
      direct: direct50,
      /** What the page adds to the end-to-end figure, at the p50. */
      pageOverDirectP50Ms: Math.round((page50.p50Ms - direct50.p50Ms) * 100) / 100,
      floor: { leafRoundTrip: floor.leafRoundTrip },
      ratios: { pageP50ToLeafRoundTrip: ratio(page50.p50Ms, floor.leafRoundTrip.p50Ms) },
    };
  } finally {
    await browser.close();
  }
}

export function printPageBench(r: PageBenchResult): void {
  console.log(
    `researcher's page — a count on ${r.tres} TREs, auto-release, in Chromium; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date} (setup ${r.setupMs} ms)`,
  );
  console.log(formatLatency("page: form sent → combined table shown", r.page));
  console.log(formatLatency("page: form sent → task's page loaded", r.taskPageLoaded));
  console.log(formatLatency("the same count, direct (end to end), alternately", r.direct));
  console.log(
    `the page adds ${r.pageOverDirectP50Ms} ms at the p50; page p50 ×${r.ratios.pageP50ToLeafRoundTrip} the leaf round trip`,
  );
}
