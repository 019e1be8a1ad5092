/**
 * Running one admitted task: `running` is recorded before anything runs (after it, a restart knows the run was
 * interrupted and discards what it held before the next attempt), the executor gets a per-task credential from
 * the broker that is revoked however the run ends, and the outputs go to the airlock, never anywhere else. A cancel aborts the run and keeps nothing; an executor's failure is reported
 * in its own words (which never carry data values), any other failure without its text. A failure its type calls
 * retryable (`ExecutorFailed.retryable`: the database or the container engine unreachable) takes the retry step
 * while attempts are left, and the next run follows after a back-off; a refusal, a timeout or a cancel never does.
 */

import { type AuditSink, asError } from "../common/index.js";
import {
  AnalysisRefused,
  type DatasetDefinition,
  ExecutorCancelled,
  type ExecutorCredential,
  ExecutorFailed,
  type ExecutorOutput,
  ImageNotPresent,
  isExecutorError,
} from "../executors/index.js";
import type { ChildState, Mend } from "../protocol/index.js";
import { type AgentTask, attemptOf } from "./agent-state.js";
import { type Airlock, heldReason } from "./airlock.js";
import { CredentialBrokerError } from "./credential-broker.js";
import { datasetsOf } from "./policy.js";
import type { Admission } from "./task-admission.js";

/** A per-task credential from the broker, and how to revoke it. */
export interface CredentialGrant {
  credential: ExecutorCredential;
  release(): Promise<void>;
}

/**
 * The credential broker as the agent uses it (leaf/credential-broker.ts implements it for PostgreSQL). An error
 * it throws with `retryable: true` (the database could not be reached) is retried like a retryable executor failure.
 */
export interface CredentialIssuer {
  issue(taskId: string, datasets: readonly DatasetDefinition[], timeoutMs: number): Promise<CredentialGrant>;
}

/** A task admission let through: what to run, for whom, with which executor. */
export type AdmittedTask = Extract<Admission, { ok: true }>;

/** What running a task uses of the agent. */
export interface ExecutionContext {
  datasets: readonly DatasetDefinition[];
  credentials: CredentialIssuer;
  /** Wall-clock budget of one run, in ms. */
  timeoutMs: number;
  /** Runs a task may have (see `AgentOptions.maxTaskAttempts`). */
  maxAttempts: number;
  /** Wait before the second run after a retryable failure, in ms; doubled for each later run. */
  retryBackoffMs: number;
  airlock: Airlock;
  audit: AuditSink;
  /** Records and announces one transition if `allowed(current)` (the agent's). */
  record: (
    taskId: string,
    state: ChildState,
    reason?: string,
    allowed?: (s: ChildState) => boolean,
    mend?: Mend,
  ) => Promise<AgentTask | undefined>;
  onError: (taskId: string, error: Error) => void;
  /** A task's allow-listed image is not in the container engine: the operator's to mend, not the researcher's. */
  onImageMissing: (taskId: string, project: string, image: string) => void;
}

/** A failure worth another run: an executor's by its type, or the broker's when the database was unreachable. */
function isRetryable(e: unknown): boolean {
  return (e instanceof ExecutorFailed || e instanceof CredentialBrokerError) && e.retryable;
}

/** What the researcher may read of a retryable failure: an executor's own words, never the broker's internals. */
function publicMessage(e: unknown): string {
  return isExecutorError(e)
    ? e.message
    : "the TRE's database could not be reached to make the task's credential";
}

/** What the researcher reads when the broker could not make the task's credential for a reason a retry cannot mend. */
export const BROKER_REFUSED =
  "the TRE could not give the task access to its database: a setting there that the TRE's operators must put right " +
  "(not a fault in the analysis); their leaf's log has the details";

/** How one run ended: `retryInMs` when the task took the retry step and its next run should start then. */
export interface RunEnd {
  retryInMs?: number;
}

/** The wait before the run after `attempt`: the back-off doubles with each failed run. */
export function retryDelayMs(ctx: Pick<ExecutionContext, "retryBackoffMs">, attempt: number): number {
  return ctx.retryBackoffMs * 2 ** (attempt - 1);
}

/**
 * Runs an accepted task once (`recorded`: its `running` is recorded already, at attempt 1), to `outputs_pending_review`, `cancelled`, `executor_error`, or, after a retryable
 * failure with attempts left, back to `accepted` for its next attempt (`retryInMs` says when).
 */
export async function executeTask(
  ctx: ExecutionContext,
  taskId: string,
  { submission, researcher, executor }: AdmittedTask,
  signal: AbortSignal,
  { recorded = false }: { recorded?: boolean } = {},
): Promise<RunEnd> {
  let attempt = 1;
  try {
    // `running` is recorded before anything runs: after it, a restart knows this run was interrupted. A task's
    // claim records it for the first attempt when a slot is free at once (`recorded`).
    if (!recorded) {
      const running = await ctx.record(taskId, "running", undefined, (s) => s === "accepted");
      if (!running) return {};
      attempt = attemptOf(running);
    }
    const names = new Set(datasetsOf(submission.analysis));
    const datasets = ctx.datasets.filter((d) => names.has(d.name));
    let outputs: ExecutorOutput[];
    const grant = await ctx.credentials.issue(taskId, datasets, ctx.timeoutMs);
    try {
      const record = (action: string, details: Record<string, string | number | boolean>) =>
        void ctx.audit
          .append({ actor: "executor", action, taskId, details })
          .catch((e: unknown) => ctx.onError(taskId, asError(e)));
      outputs = await executor.run(
        {
          taskId,
          analysis: submission.analysis,
          datasets,
          credential: grant.credential,
          timeoutMs: ctx.timeoutMs,
          record,
        },
        { signal },
      );
    } finally {
      await grant.release();
    }
    // A cancel that came as the executor finished: nothing is held.
    if (signal.aborted) throw new ExecutorCancelled();
    const held = await ctx.airlock.hold(
      {
        taskId,
        project: submission.project,
        researcher,
        kind: submission.analysis.kind,
        ...(submission.title ? { title: submission.title } : {}),
        submittedAt: submission.iat,
        ...(submission.externalId ? { externalId: submission.externalId } : {}),
      },
      outputs,
    );
    // Every output decided at hold (auto-release): held and released in one transition.
    if (await ctx.airlock.releaseAtHold(held, attempt)) return {};
    // Some output is left for a reviewer.
    const pending = await ctx.record(
      taskId,
      "outputs_pending_review",
      heldReason(held.outputs),
      (s) => s === "running",
    );
    if (pending) await ctx.airlock.afterHeld(taskId, { held });
    return {};
  } catch (e) {
    if (e instanceof ExecutorCancelled) {
      await ctx.record(taskId, "cancelled", "cancelled while running; nothing was kept");
    } else if (isRetryable(e) && attempt < ctx.maxAttempts) {
      const retryInMs = retryDelayMs(ctx, attempt);
      const retried = await ctx.record(
        taskId,
        "accepted",
        `attempt ${attempt} of ${ctx.maxAttempts} failed: ${publicMessage(e)}; attempt ${attempt + 1} follows in ${retryInMs} ms`,
        (s) => s === "running",
      );
      if (retried) return { retryInMs };
    } else if (isRetryable(e)) {
      // Its attempts are used up. The broker's own text is for the TRE's operators only.
      if (!isExecutorError(e)) ctx.onError(taskId, asError(e));
      await ctx.record(
        taskId,
        "executor_error",
        `${publicMessage(e)} (attempt ${attempt} of ${ctx.maxAttempts})`,
      );
    } else if (isExecutorError(e)) {
      if (e instanceof ImageNotPresent) ctx.onImageMissing(taskId, submission.project, e.image);
      // Executor messages never carry data values (see executors/errors.ts).
      // An analysis refused is the researcher's to change; any other executor error says nothing of whose it is.
      await ctx.record(
        taskId,
        "executor_error",
        e.message,
        undefined,
        e instanceof AnalysisRefused ? "analysis" : undefined,
      );
    } else if (e instanceof CredentialBrokerError) {
      // The TRE's own database set-up (a grant, a table, the broker's login): the researcher hears whose it is to
      // mend, not the broker's text, which names roles, tables and hosts.
      await ctx.record(taskId, "executor_error", BROKER_REFUSED, undefined, "tre");
      throw e;
    } else {
      // Anything else (the airlock) is reported without its text, which may name internals.
      await ctx.record(
        taskId,
        "executor_error",
        "the task failed inside the TRE; the TRE's operators have the details",
        undefined,
        "tre",
      );
      throw e;
    }
    return {};
  }
}
