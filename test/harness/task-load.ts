/**
 * Load for the fault suite: one researcher submitting many signed tasks at once, and waiting until each has
 * ended at every TRE it named, through the researcher's own API (the hub's answers, as `tremesh status` reads
 * them). The researcher's connection is opened again whenever the hub dropped it (a hub restart).
 *
 * @example
 * const load = new TaskLoad(fed, "alice", "diabetes");
 * const tasks = await load.submit(40, (i) => ({ tres: ["a", "b"], analysis: analysisAt(i) }));
 * const views = await load.waitUntilEnded(tasks, 60_000);
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { fetchTask, sendSubmission, signSubmission } from "../../aggregator/index.js";
import { waitFor } from "../../common/index.js";
import { WaitTimeoutError } from "../../common/wait-for.js";
import { type AnalysisSpec, isTerminal, type SigningKey, type TaskView } from "../../protocol/index.js";
import type { Federation } from "./federation.js";

export interface LoadTask {
  taskId: string;
  tres: string[];
  analysis: AnalysisSpec;
}

/** Runs `work` over `items`, at most `parallel` at a time. */
export async function inParallel<T>(
  items: readonly T[],
  parallel: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker));
}

/** True once the task has ended at every TRE it named. */
export function endedEverywhere(view: TaskView, tres: readonly string[]): boolean {
  return tres.every((tre) => {
    const child = view.children.find((c) => c.tre === tre);
    return child !== undefined && isTerminal(child.state);
  });
}

export class TaskLoad {
  #nc: Promise<NatsConnection> | undefined;
  #key: SigningKey | undefined;
  #retries = 0;

  constructor(
    readonly fed: Federation,
    readonly researcher: string,
    readonly project: string,
  ) {}

  /** Submissions sent again so far because the hub did not answer or could not record them. */
  get retries(): number {
    return this.#retries;
  }

  /** The researcher's hub connection, opened again (waiting for the hub) when it was closed; one at a time. */
  connection(): Promise<NatsConnection> {
    if (this.#nc === undefined) {
      const opening = waitFor(`${this.researcher}'s connection to the hub`, () =>
        this.fed.connect(this.researcher),
      );
      this.#nc = opening;
      const forget = () => {
        if (this.#nc === opening) this.#nc = undefined;
      };
      opening.then((nc) => void nc.closed().then(forget), forget);
    }
    return this.#nc;
  }

  async key(): Promise<SigningKey> {
    this.#key ??= (await this.fed.profile(this.researcher)).key;
    if (!this.#key) throw new Error(`profile ${this.researcher} has no signing key`);
    return this.#key;
  }

  /**
   * Submits `count` tasks, 16 at a time. A submission the hub did not answer (it was down) or could not record is
   * sent again, the same signed envelope, until it is accepted: the hub's answer to a repeat is the same task.
   */
  async submit(
    count: number,
    plan: (i: number) => { tres: string[]; analysis: AnalysisSpec },
  ): Promise<LoadTask[]> {
    const key = await this.key();
    const tasks: LoadTask[] = new Array(count);
    await inParallel(
      Array.from({ length: count }, (_, i) => plan(i)),
      16,
      async (job, i) => {
        const envelope = signSubmission(key, { project: this.project, ...job });
        const reply = await waitFor(
          "the hub to answer a submission",
          async () => {
            const r = await sendSubmission(await this.connection(), envelope, 3_000).catch((e: unknown) => {
              this.#retries++;
              throw e;
            });
            // "unavailable": the hub could not record it this time, and says to retry.
            if (r.status === "rejected" && r.code === "unavailable") return void this.#retries++;
            return r;
          },
          { timeoutMs: 60_000, intervalMs: 200 },
        );
        if (reply.status !== "accepted")
          throw new Error(`submission ${i} refused: ${reply.code}: ${reply.message}`);
        tasks[i] = { taskId: reply.taskId, ...job };
      },
    );
    return tasks;
  }

  /** The hub's view of each task. */
  async views(tasks: readonly LoadTask[]): Promise<TaskView[]> {
    const key = await this.key();
    const views: TaskView[] = new Array(tasks.length);
    await inParallel(tasks, 32, async (t, i) => {
      views[i] = await fetchTask(await this.connection(), key, t.taskId);
    });
    return views;
  }

  /** Waits until every task has ended at every TRE it named; on a timeout, says which have not and where they are. */
  async waitUntilEnded(tasks: readonly LoadTask[], timeoutMs: number): Promise<Map<string, TaskView>> {
    const ended = new Map<string, TaskView>();
    try {
      await waitFor(
        `${tasks.length} tasks to end at every TRE`,
        async () => {
          const pending = tasks.filter((t) => !ended.has(t.taskId));
          const views = await this.views(pending);
          views.forEach((v, i) => {
            if (endedEverywhere(v, pending[i]!.tres)) ended.set(v.taskId, v);
          });
          return ended.size === tasks.length;
        },
        { timeoutMs, intervalMs: 250 },
      );
    } catch (error) {
      if (!(error instanceof WaitTimeoutError)) throw error;
      const pending = tasks.filter((t) => !ended.has(t.taskId));
      const states = new Map<string, number>();
      const count = (what: string) => states.set(what, (states.get(what) ?? 0) + 1);
      // The histories of the first few children still under way: how far each got, attempt by attempt.
      const histories: string[] = [];
      const key = await this.key();
      await inParallel(pending, 16, async (t) => {
        try {
          for (const c of (await fetchTask(await this.connection(), key, t.taskId)).children) {
            count(`${c.tre}:${c.state}`);
            if (histories.length < 3 && !isTerminal(c.state))
              histories.push(
                `${t.taskId} at ${c.tre}: ${c.history.map((h) => `${h.state}#${h.attempt ?? 1}`).join(" → ")}`,
              );
          }
        } catch (e) {
          count(`hub: ${e instanceof Error ? e.message : String(e)}`);
        }
      });
      throw new Error(
        `${pending.length} of ${tasks.length} tasks had not ended after ${timeoutMs} ms; ` +
          `their TREs' states: ${JSON.stringify(Object.fromEntries(states))}; ${histories.join("; ")}`,
        { cause: error },
      );
    }
    return ended;
  }
}
