/**
 * One benchmarked task from the researcher's side, as `tremesh submit` and `tremesh aggregate` do it with the
 * aggregator's functions: sign and submit a count to the TREs, wait (push: see release-watch.ts) until every
 * TRE's Release is stored at the hub, then fetch, verify and combine them (`collectResults`). The clock runs
 * from before the Submission is signed to after the combined result exists.
 */
import { collectResults, fetchTask, submit, type TaskResults } from "../aggregator/index.js";
import { BENCH_PROJECT, type BenchFederation, COUNT_BY_SEX } from "./bench-federation.js";
import { formatLatency, latency } from "./measure.js";

export interface CountTaskRun {
  taskId: string;
  /** `Date.now()` just before the Submission was signed. */
  submittedAt: number;
  /** Submit → the researcher holds the verified, combined result, in ms. */
  totalMs: number;
  /** Submit → the hub's `accepted` answer (the task recorded and dispatched to every TRE), in ms. */
  submitMs: number;
  /** Submit → the last TRE's Release stored at the hub, in ms. */
  storedMs: number;
  /** Fetching, verifying and combining the Releases (`collectResults`), in ms. */
  collectMs: number;
}

/**
 * Runs one count on `tres` and checks that every TRE's Release verified and the counts combined; fails when the
 * Releases are not all stored at the hub within `timeoutMs` (default 60 000).
 */
export async function runCountTask(
  b: BenchFederation,
  tres: readonly string[],
  timeoutMs = 60_000,
): Promise<CountTaskRun> {
  const submittedAt = Date.now();
  const start = performance.now();
  const reply = await submit(b.researcher, b.researcherKey, {
    project: BENCH_PROJECT,
    tres: [...tres],
    analysis: COUNT_BY_SEX,
  });
  if (reply.status !== "accepted") throw new Error(`submission refused: ${reply.code}: ${reply.message}`);
  const accepted = performance.now();
  const stored = await b.releases.all(reply.taskId, tres.length, timeoutMs).catch(async (error: unknown) => {
    throw new Error(`${String(error)}; at the hub: ${await childStates(b, reply.taskId)}`);
  });
  const collecting = performance.now();
  const results = await collectResults(b.researcher, b.researcherKey, reply.taskId, b.treKeys);
  const end = performance.now();
  checkCombined(results, tres.length);
  return {
    taskId: reply.taskId,
    submittedAt,
    totalMs: end - start,
    submitMs: accepted - start,
    storedMs: stored - start,
    collectMs: end - collecting,
  };
}

/** Each TRE's state of the task and the reason it gave last, for a task that did not finish. */
async function childStates(b: BenchFederation, taskId: string): Promise<string> {
  const view = await fetchTask(b.researcher, b.researcherKey, taskId);
  return view.children
    .map((c) => `${c.tre} ${c.state}${c.history.at(-1)?.reason ? ` (${c.history.at(-1)?.reason})` : ""}`)
    .join(", ");
}

/** A benchmark that times a failure would time the wrong thing: every Release must verify and combine. */
function checkCombined(results: TaskResults, tres: number): void {
  const problems = [
    ...results.excluded.map((e) => `${e.tre}: ${e.code} ${e.reason}`),
    ...results.combined.flatMap((c) => (c.error ? [`${c.name}: ${c.error.message}`] : [])),
  ];
  if (results.accepted.length !== tres || !results.combined.some((c) => c.result) || problems.length > 0)
    throw new Error(
      `task ${results.task.taskId}: ${results.accepted.length} of ${tres} Releases verified; ${problems.join("; ")}`,
    );
}

/** `n` counts on every TRE of `b`, one after the other. */
export async function runCountTasks(b: BenchFederation, n: number): Promise<CountTaskRun[]> {
  const runs: CountTaskRun[] = [];
  for (let i = 0; i < n; i++) runs.push(await runCountTask(b, b.tres));
  return runs;
}

/** The distributions of the runs' times: the whole, and its parts. */
export function countTaskLatencies(runs: readonly CountTaskRun[]) {
  return {
    total: latency(runs.map((r) => r.totalMs)),
    submit: latency(runs.map((r) => r.submitMs)),
    storedAtHub: latency(runs.map((r) => r.storedMs)),
    collect: latency(runs.map((r) => r.collectMs)),
  };
}

/** Prints `countTaskLatencies`, one line each. */
export function printCountTaskLatencies(l: ReturnType<typeof countTaskLatencies>): void {
  console.log(formatLatency("submit → combined result (push notified)", l.total));
  console.log(formatLatency("  submit → hub's accepted answer", l.submit));
  console.log(formatLatency("  submit → last Release stored at the hub", l.storedAtHub));
  console.log(formatLatency("  fetch + verify + combine (collectResults)", l.collect));
}
