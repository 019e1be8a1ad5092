/**
 * The hub's researcher API: signed cancel requests and signed queries (task state with per-TRE history,
 * the signer's own tasks, the TRE-signed Releases, which TREs are online). Every request is a researcher-signed envelope, so the
 * hub answers only about the signer's own tasks whatever connection the request came through; another
 * researcher's task id is answered `not_found`, exactly like an unknown one.
 *
 * A cancel sends one hub-signed Cancel into the TASKS stream of every TRE whose child has not ended (message
 * id per task and TRE, so a repeat is deduplicated) and records `cancel_requested` with who and why; the
 * TRE's own `cancelled` StatusEvent ends the child. Instances share a queue group.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { match } from "ts-pattern";
import { auditLimits, auditList } from "../audit/index.js";
import { type AuditSink, type SignedService, serveSigned, signedRoute } from "../common/index.js";
import {
  ApiErrorCode,
  type ApiReply,
  deriveParentState,
  isTerminal,
  MAX_QUERY_WAIT_MS,
  MemoryReplayGuard,
  newId,
  type Query,
  type SigningKey,
  sealEnvelope,
  subjects,
  type TaskView,
  type VerifiedOf,
} from "../protocol/index.js";
import type { LivenessTracker } from "./liveness-tracker.js";
import type { ResearcherDirectory } from "./researcher-directory.js";
import type { TaskRecord, TaskStore } from "./task-store.js";

export interface ResearcherApiOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  hubKey: SigningKey;
  researchers: ResearcherDirectory;
  tasks: TaskStore;
  /** The RELEASES bucket kept by the StatusTracker. */
  releases: KV;
  liveness: LivenessTracker;
  audit: AuditSink;
  /** Queue group shared by every instance. Default "tremesh-researcher-api". */
  queueGroup?: string;
  /** How long a Cancel stays valid at the TREs, in ms. Default 7 days (a TRE may be offline that long). */
  cancelValidForMs?: number;
  onEvent?: (e: ResearcherApiEvent) => void;
}

export type ResearcherApiEvent =
  | { type: "cancelled"; taskId: string; researcher: string; tres: string[] }
  | { type: "refused"; request: "cancel" | "query"; code: string; reason: string }
  | { type: "error"; error: Error };

/** How many of the signer's tasks a `tasks` query lists when it does not say. */
const DEFAULT_TASKS_LISTED = 50;

/**
 * The longest a query or cancel request may be valid. The replay guard keeps each request's id until it expires,
 * so a researcher's month-long requests (the envelope's own limit), each with a new id, would hold the hub's
 * memory for a month: about 100 MB per 200 000 requests. The CLI's requests live 60 s; this leaves room for a
 * slow clock or a slow network, and no more.
 */
const MAX_REQUEST_LIFETIME_MS = 10 * 60_000;

/** The answer when the hub fails to answer (a store unavailable): the researcher may retry. */
const UNAVAILABLE: ApiReply = {
  status: "error",
  code: ApiErrorCode.unavailable,
  message: "the hub could not answer; retry",
};

/** The cancel and query services of one hub instance. */
export class ResearcherApi {
  #service: SignedService | undefined;
  // Queries and cancels are short-lived (their envelope's expiry): a replayed one within its life is refused.
  readonly #replay = new MemoryReplayGuard();
  readonly #stopping = new AbortController();

  private constructor(private readonly opts: ResearcherApiOptions) {}

  static async start(opts: ResearcherApiOptions): Promise<ResearcherApi> {
    const api = new ResearcherApi(opts);
    const open = () => ({
      trust: opts.researchers.trust,
      replay: api.#replay,
      maxLifetimeMs: MAX_REQUEST_LIFETIME_MS,
    });
    api.#service = await serveSigned<ApiReply>({
      nc: opts.nc,
      queue: opts.queueGroup ?? "tremesh-researcher-api",
      routes: [
        signedRoute({
          subject: subjects.cancelRequest,
          expect: "cancelRequest",
          open,
          refuse: (e) => api.#refuse("cancel", e.code, e.message),
          handle: (request) => api.#cancel(request),
        }),
        signedRoute({
          subject: subjects.query,
          expect: "query",
          open,
          refuse: (e) => api.#refuse("query", e.code, e.message),
          handle: (query) => api.#query(query),
        }),
      ],
      unavailable: UNAVAILABLE,
      onError: (error) => opts.onEvent?.({ type: "error", error }),
    });
    return api;
  }

  async stop(): Promise<void> {
    this.#stopping.abort(); // a researcher waiting for a change is answered now, with the view as it is
    await this.#service?.stop();
  }

  #refuse(request: "cancel" | "query", code: ApiErrorCode, message: string): ApiReply {
    this.opts.onEvent?.({ type: "refused", request, code, reason: message });
    return { status: "error", code, message };
  }

  /** The signer's own task, or undefined (unknown, or someone else's: the same answer). */
  async #ownTask(taskId: string, researcherKey: string): Promise<TaskRecord | undefined> {
    const task = await this.opts.tasks.get(taskId);
    return task?.researcherKey === researcherKey ? task : undefined;
  }

  async #cancel(opened: VerifiedOf<"cancelRequest">): Promise<ApiReply> {
    const request = opened.body;
    const who = opened.signer.name;
    const task = await this.#ownTask(request.taskId, opened.signer.publicKey);
    if (!task) return this.#refuse("cancel", ApiErrorCode.notFound, `no task ${request.taskId} of yours`);

    const open = (await this.opts.tasks.childrenOf(task)).filter((c) => !isTerminal(c.state));
    if (open.length === 0) {
      return this.#refuse("cancel", ApiErrorCode.alreadyEnded, `task ${task.taskId} has ended at every TRE`);
    }
    const now = Date.now();
    const reason = request.reason ?? "cancelled by the researcher";
    for (const child of open) {
      const cancel = sealEnvelope(
        "cancel",
        {
          id: newId(now),
          iat: now,
          exp: now + (this.opts.cancelValidForMs ?? 7 * 86_400_000),
          taskId: task.taskId,
          tre: child.tre,
          reason,
        },
        this.opts.hubKey,
      );
      await this.opts.js.publish(subjects.cancel(child.tre, task.taskId), cancel, {
        msgID: `cancel.${task.taskId}.${child.tre}`,
      });
      await this.opts.tasks.applyChildEvent(task.taskId, child.tre, {
        state: "cancel_requested",
        at: now,
        actor: `hub/${who}`,
        reason,
        eventId: `cancel-${task.taskId}-${child.tre}`,
      });
    }
    const tres = open.map((c) => c.tre);
    await this.opts.audit.append({
      actor: who,
      action: "task.cancel_requested",
      taskId: task.taskId,
      details: { tres: auditList(tres), reason: reason.slice(0, auditLimits.detailStringChars) },
    });
    this.opts.onEvent?.({ type: "cancelled", taskId: task.taskId, researcher: who, tres });
    return { status: "ok", cancelled: tres };
  }

  async #query(opened: VerifiedOf<"query">): Promise<ApiReply> {
    const q = opened.body;
    const signerKey = opened.signer.publicKey;
    return match(q.what)
      .with("tres", async (): Promise<ApiReply> => ({ status: "ok", tres: await this.opts.liveness.list() }))
      .with("tasks", async (): Promise<ApiReply> => {
        const mine = await this.opts.tasks.ofResearcher(signerKey, q.limit ?? DEFAULT_TASKS_LISTED);
        return { status: "ok", tasks: await Promise.all(mine.map((t) => this.#view(t))) };
      })
      .with("task", async () => {
        const task = await this.#queriedTask(q, signerKey);
        if (!("taskId" in task)) return task;
        return { status: "ok", task: await this.#viewChangedFrom(task, q) } satisfies ApiReply;
      })
      .with("releases", async () => {
        const task = await this.#queriedTask(q, signerKey);
        if (!("taskId" in task)) return task;
        // Read at once, not one after another: the answer to a hundred TREs waits one round trip, not a hundred.
        const stored = await Promise.all(
          task.tres.map((tre) => this.opts.releases.get(`${task.taskId}.${tre}`)),
        );
        const releases = task.tres.flatMap((tre, i) => {
          const e = stored[i];
          return e?.operation === "PUT" ? [{ tre, envelope: e.value }] : [];
        });
        return { status: "ok", releases } satisfies ApiReply;
      })
      .exhaustive();
  }

  /** The signer's task a query names, or the refusal to answer with. */
  async #queriedTask(q: Query, signerKey: string): Promise<TaskRecord | ApiReply> {
    if (!q.taskId) return this.#refuse("query", ApiErrorCode.badRequest, `a ${q.what} query needs taskId`);
    const task = await this.#ownTask(q.taskId, signerKey);
    return task ?? this.#refuse("query", ApiErrorCode.notFound, `no task ${q.taskId} of yours`);
  }

  /**
   * The task's view; with `changedFrom` naming the view as it is now, the view once the task has moved on, or as it
   * is after `waitMs` (the hub stopping answers at once). The task's records are watched before they are read
   * again, so a change between two reads is never missed.
   */
  async #viewChangedFrom(task: TaskRecord, q: Query): Promise<TaskView> {
    const first = await this.#view(task);
    if (q.changedFrom === undefined || q.changedFrom !== first.version || !q.waitMs) return first;
    const deadline = Date.now() + Math.min(q.waitMs, MAX_QUERY_WAIT_MS);
    const watch = await this.opts.tasks.watch(task.taskId);
    try {
      for (;;) {
        // The parent's record read again too: its own fields (dispatched, updatedAt) are part of the view.
        const view = await this.#view((await this.opts.tasks.get(task.taskId)) ?? task);
        if (view.version !== q.changedFrom) return view;
        const left = deadline - Date.now();
        if (left <= 0 || !(await watch.next(left, this.#stopping.signal))) return view;
      }
    } finally {
      watch.stop();
    }
  }

  async #view(task: TaskRecord): Promise<TaskView> {
    const children = await this.opts.tasks.childrenOf(task);
    // A TRE the hub refuses for signing with an unregistered key: its unfinished children cannot move, and say why.
    const unregistered = await Promise.all(
      children.map((c) => (isTerminal(c.state) ? undefined : this.opts.liveness.unregisteredKey(c.tre))),
    );
    const view: TaskView = {
      taskId: task.taskId,
      project: task.project,
      researcher: task.researcher,
      tres: task.tres,
      kind: task.kind,
      ...(task.title ? { title: task.title } : {}),
      // From the children read here: the stored parent state is refreshed just after a child's, and a view must
      // never show a child ahead of its parent.
      state: deriveParentState(
        children.map((c) => c.state),
        task.dispatched,
      ),
      submittedAt: task.submittedAt,
      updatedAt: task.updatedAt,
      children: children.map((c, i) => ({
        tre: c.tre,
        state: c.state,
        ...(c.attempt !== undefined && c.attempt > 1 ? { attempt: c.attempt } : {}),
        ...(c.discrepancy ? { discrepancy: c.discrepancy } : {}),
        ...(unregistered[i] ? { unregisteredKey: unregistered[i].publicKey } : {}),
        history: c.history.map((h) => ({
          state: h.state,
          at: h.at,
          actor: h.actor,
          ...(h.reason ? { reason: h.reason } : {}),
          ...(h.attempt !== undefined && h.attempt > 1 ? { attempt: h.attempt } : {}),
          ...(h.mend ? { mend: h.mend } : {}),
        })),
      })),
    };
    return { ...view, version: viewVersion(view) };
  }
}

/**
 * Names a view by what it shows: any change of state, history, attempt, discrepancy or unregistered key gives another
 * version.
 */
function viewVersion(view: TaskView): string {
  return createHash("sha256").update(JSON.stringify(view)).digest("hex").slice(0, 32);
}
