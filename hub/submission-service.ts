/**
 * The hub's submission service: one request, one answer. It verifies the researcher's signed
 * Submission, checks the registry (identity, project membership, project dates, every TRE on the
 * project), records the task, fans it out and answers `accepted` with the task id, or `rejected`
 * with a code and a reason. Every decision is recorded in the audit log.
 *
 * Several instances may run at once: requests are spread over a queue group, a task id can be
 * created only once (KV create), and dispatches are deduplicated by message id.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { auditLimits, auditList } from "../audit/index.js";
import { type AuditSink, type SignedService, serveSigned, signedRoute } from "../common/index.js";
import {
  isPublicKey,
  MAX_SUBMISSION_BYTES,
  peekEnvelope,
  type SigningKey,
  SubmitRejectCode,
  type SubmitReply,
  subjects,
  type VerifiedOf,
} from "../protocol/index.js";
import { dispatchTask, type NotQueued } from "./dispatcher.js";
import type { Registry } from "./registry.js";
import type { ResearcherDirectory } from "./researcher-directory.js";
import { admitSubmission } from "./submission-admission.js";
import type { TaskRecord, TaskStore } from "./task-store.js";

/** What the service reports to its process, which owns the logger. */
export type SubmissionEvent =
  | {
      type: "accepted";
      taskId: string;
      researcher: string;
      project: string;
      tres: string[];
      duplicate: boolean;
    }
  | { type: "rejected"; code: string; reason: string; signer?: string }
  /** A TRE's task queue at the hub refused the task for a storage limit: its part ended `rejected`. */
  | { type: "not_queued"; taskId: string; tre: string; reason: string }
  | { type: "error"; error: Error };

export interface SubmissionServiceOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  hubKey: SigningKey;
  registry: Registry;
  researchers: ResearcherDirectory;
  tasks: TaskStore;
  audit: AuditSink;
  /** A manager of each TRE's hub account, to name the size of a storage limit (see `DispatchOptions`). */
  treJetStream?: (tre: string) => JetStreamManager | undefined;
  /** Queue group shared by every instance. Default "tremesh-submission". */
  queueGroup?: string;
  onEvent?: (e: SubmissionEvent) => void;
  now?: () => number;
}

/** The answer when the hub fails to record a task (a store unavailable): the researcher may retry. */
const UNAVAILABLE: SubmitReply = {
  status: "rejected",
  code: SubmitRejectCode.unavailable,
  message: "the hub could not record the task; retry",
};

const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class SubmissionService {
  readonly #opts: SubmissionServiceOptions;
  #service: SignedService | undefined;

  private constructor(opts: SubmissionServiceOptions) {
    this.#opts = opts;
  }

  static async start(opts: SubmissionServiceOptions): Promise<SubmissionService> {
    const s = new SubmissionService(opts);
    const now = () => (opts.now ?? Date.now)();
    s.#service = await serveSigned<SubmitReply>({
      nc: opts.nc,
      queue: opts.queueGroup ?? "tremesh-submission",
      routes: [
        signedRoute({
          subject: subjects.submit,
          expect: "submission",
          open: () => ({ trust: opts.researchers.trust, now: now(), maxBytes: MAX_SUBMISSION_BYTES }),
          refuse: (error, bytes) => {
            const signer = peekEnvelope(bytes)?.signer?.slice(0, 56);
            const revoked =
              error.code === SubmitRejectCode.unknownSigner && signer
                ? opts.researchers.revokedKey(signer)
                : undefined;
            if (revoked)
              return s.#reject(
                SubmitRejectCode.researcherRevoked,
                `${revoked.name}'s access was revoked on ${new Date(revoked.revoked!).toISOString()}; ask the federation admin`,
                signer,
              );
            return s.#reject(error.code, error.message, signer, error.field);
          },
          // One time for the whole decision: the envelope's checks, the project's dates, the task record.
          handle: (submission, bytes, checks) => s.#decide(submission, bytes, checks.now ?? now()),
        }),
      ],
      unavailable: UNAVAILABLE,
      onError: (error) => opts.onEvent?.({ type: "error", error }),
    });
    return s;
  }

  async stop(): Promise<void> {
    await this.#service?.stop();
  }

  async #reject(
    code: SubmitRejectCode,
    message: string,
    signer?: string,
    field?: string,
  ): Promise<SubmitReply> {
    this.#opts.onEvent?.({ type: "rejected", code, reason: message, ...(signer ? { signer } : {}) });
    await this.#opts.audit.append({
      // The signer field of a refused envelope is whatever its sender wrote: only a real key names an actor.
      actor: signer !== undefined && isPublicKey(signer) ? signer : "unknown",
      action: "submission.rejected",
      details: { code, reason: message.slice(0, auditLimits.detailStringChars) },
    });
    return { status: "rejected", code, message, ...(field ? { field } : {}) };
  }

  async #decide(opened: VerifiedOf<"submission">, bytes: Uint8Array, now: number): Promise<SubmitReply> {
    const body = opened.body;
    const who = opened.signer.name;
    const registered = this.#opts.researchers.byKey(opened.signer.publicKey);
    const admitted = admitSubmission(
      body,
      registered,
      registered ? await this.#opts.registry.project(body.project) : undefined,
      now,
    );
    if (!admitted.ok) return this.#reject(admitted.code, admitted.message, who, admitted.field);
    const { researcher, project } = admitted;

    // The submission id is the task id: a retried submission finds its task instead of making another.
    const taskId = body.id;
    const submissionDigest = digest(bytes);
    const record: TaskRecord = {
      taskId,
      project: project.name,
      researcher: researcher.name,
      researcherKey: researcher.publicKey,
      tres: body.tres,
      kind: body.analysis.kind,
      ...(body.title ? { title: body.title } : {}),
      submittedAt: now,
      submissionDigest,
      dispatched: false,
      state: "submitted",
      updatedAt: now,
    };
    const created = await this.#opts.tasks.create(record, bytes);
    const duplicate = !created;
    let notQueued: NotQueued[] = [];
    if (duplicate) {
      const existing = await this.#opts.tasks.get(taskId);
      if (existing?.submissionDigest !== submissionDigest) {
        return this.#reject(SubmitRejectCode.replayed, `submission id ${taskId} was already used`, who, "id");
      }
      if (!existing.dispatched) notQueued = await this.#dispatch(taskId, body.exp, bytes);
    } else {
      await this.#opts.audit.append({
        actor: researcher.name,
        action: "task.submitted",
        taskId,
        details: { project: project.name, tres: auditList(body.tres), kind: body.analysis.kind },
      });
      notQueued = await this.#dispatch(taskId, body.exp, bytes, record);
    }
    for (const n of notQueued)
      this.#opts.onEvent?.({ type: "not_queued", taskId, tre: n.tre, reason: n.error.message });
    // No TRE has the task: a refusal the researcher reads at once (the task's record says the same).
    if (notQueued.length > 0 && notQueued.length === body.tres.length)
      return this.#reject(
        SubmitRejectCode.storageLimit,
        // Within the reply's 2 000 characters, however many TREs refused.
        `task ${taskId} was not queued: ${notQueued.map((n) => `TRE ${n.tre}: ${n.error.message}`).join("; ")}`.slice(
          0,
          1_900,
        ),
        who,
      );
    this.#opts.onEvent?.({
      type: "accepted",
      taskId,
      researcher: who,
      project: project.name,
      tres: body.tres,
      duplicate,
    });
    return {
      status: "accepted",
      taskId,
      duplicate,
      ...(notQueued.length > 0
        ? { notQueued: notQueued.map((n) => ({ tre: n.tre, message: n.error.message })) }
        : {}),
    };
  }

  /** Dispatches the task; `created`: its record as this instance created it just now (nothing read back). */
  async #dispatch(
    taskId: string,
    submissionExp: number,
    envelope: Uint8Array,
    created?: TaskRecord,
  ): Promise<NotQueued[]> {
    const task = created ?? (await this.#opts.tasks.get(taskId));
    if (!task) throw new Error(`task ${taskId} vanished`);
    const notQueued = await dispatchTask(task, envelope, {
      fresh: created !== undefined,
      js: this.#opts.js,
      hubKey: this.#opts.hubKey,
      tasks: this.#opts.tasks,
      audit: this.#opts.audit,
      ...(this.#opts.treJetStream ? { treJetStream: this.#opts.treJetStream } : {}),
      submissionExp,
      ...(this.#opts.now ? { now: this.#opts.now } : {}),
    });
    await this.#opts.audit.append({
      actor: "hub",
      action: "task.dispatched",
      taskId,
      details: { tres: auditList(task.tres) },
    });
    return notQueued;
  }
}
