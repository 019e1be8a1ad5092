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
import type { JetStreamClient } from "@nats-io/jetstream";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { auditLimits, auditList } from "../audit/index.js";
import {
  isPublicKey,
  MAX_SUBMISSION_BYTES,
  openEnvelope,
  pack,
  peekEnvelope,
  type SigningKey,
  type Submission,
  SubmitRejectCode,
  type SubmitReply,
  subjects,
} from "../protocol/index.js";
import { dispatchTask } from "./dispatcher.js";
import type { Registry } from "./registry.js";
import type { ResearcherDirectory } from "./researcher-directory.js";
import type { TaskStore } from "./task-store.js";

/** Where the service records what it decided. The hub's hash-chained audit log implements it. */
export interface AuditSink {
  append(entry: {
    actor: string;
    action: string;
    taskId?: string;
    tre?: string;
    details?: Record<string, string | number | boolean>;
  }): Promise<unknown>;
}

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
  | { type: "error"; error: Error };

export interface SubmissionServiceOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  hubKey: SigningKey;
  registry: Registry;
  researchers: ResearcherDirectory;
  tasks: TaskStore;
  audit: AuditSink;
  /** Queue group shared by every instance. Default "tremesh-submission". */
  queueGroup?: string;
  onEvent?: (e: SubmissionEvent) => void;
  now?: () => number;
}

const digest = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export class SubmissionService {
  readonly #opts: SubmissionServiceOptions;
  readonly #sub: Subscription;

  private constructor(opts: SubmissionServiceOptions) {
    this.#opts = opts;
    this.#sub = opts.nc.subscribe(subjects.submit, {
      queue: opts.queueGroup ?? "tremesh-submission",
      callback: (_err, msg) => {
        void this.#handle(msg);
      },
    });
  }

  static async start(opts: SubmissionServiceOptions): Promise<SubmissionService> {
    const s = new SubmissionService(opts);
    await opts.nc.flush();
    return s;
  }

  async stop(): Promise<void> {
    await this.#sub.drain();
  }

  async #handle(msg: Msg): Promise<void> {
    let reply: SubmitReply;
    try {
      reply = await this.#decide(msg.data);
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.#opts.onEvent?.({ type: "error", error });
      reply = {
        status: "rejected",
        code: SubmitRejectCode.unavailable,
        message: "the hub could not record the task; retry",
      };
    }
    if (msg.reply) msg.respond(pack(reply));
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

  async #decide(bytes: Uint8Array): Promise<SubmitReply> {
    const now = (this.#opts.now ?? Date.now)();
    const opened = openEnvelope(bytes, {
      trust: this.#opts.researchers.trust,
      expect: "submission",
      now,
      maxBytes: MAX_SUBMISSION_BYTES,
    });
    if (!opened.ok) {
      const signer = peekEnvelope(bytes)?.signer;
      return this.#reject(opened.error.code, opened.error.message, signer?.slice(0, 56), opened.error.field);
    }
    if (opened.value.type !== "submission") throw new Error("unreachable: expected a submission");
    const body: Submission = opened.value.body;
    const researcher = this.#opts.researchers.byKey(opened.value.signer.publicKey);
    const who = opened.value.signer.name;
    if (!researcher) return this.#reject(SubmitRejectCode.unknownSigner, "researcher is not registered", who);

    const project = await this.#opts.registry.project(body.project);
    if (!project) {
      return this.#reject(
        SubmitRejectCode.unknownProject,
        `no project ${JSON.stringify(body.project)}`,
        who,
        "project",
      );
    }
    if (!project.members.includes(researcher.name)) {
      return this.#reject(
        SubmitRejectCode.notAMember,
        `${researcher.name} is not a member of ${project.name}`,
        who,
      );
    }
    if (now < project.startsAt || now >= project.endsAt) {
      return this.#reject(
        SubmitRejectCode.projectInactive,
        `project ${project.name} is approved from ${new Date(project.startsAt).toISOString()} to ${new Date(project.endsAt).toISOString()}`,
        who,
      );
    }
    const missing = body.tres.findIndex((t) => !project.tres.includes(t));
    if (missing >= 0) {
      return this.#reject(
        SubmitRejectCode.treNotInProject,
        `TRE ${JSON.stringify(body.tres[missing])} is not on project ${project.name}`,
        who,
        `tres[${missing}]`,
      );
    }

    // The submission id is the task id: a retried submission finds its task instead of making another.
    const taskId = body.id;
    const submissionDigest = digest(bytes);
    const created = await this.#opts.tasks.create(
      {
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
      },
      bytes,
    );
    const duplicate = !created;
    if (duplicate) {
      const existing = await this.#opts.tasks.get(taskId);
      if (existing?.submissionDigest !== submissionDigest) {
        return this.#reject(SubmitRejectCode.replayed, `submission id ${taskId} was already used`, who, "id");
      }
      if (!existing.dispatched) await this.#dispatch(taskId, body.exp, bytes);
    } else {
      await this.#opts.audit.append({
        actor: researcher.name,
        action: "task.submitted",
        taskId,
        details: { project: project.name, tres: auditList(body.tres), kind: body.analysis.kind },
      });
      await this.#dispatch(taskId, body.exp, bytes);
    }
    this.#opts.onEvent?.({
      type: "accepted",
      taskId,
      researcher: who,
      project: project.name,
      tres: body.tres,
      duplicate,
    });
    return { status: "accepted", taskId, duplicate };
  }

  async #dispatch(taskId: string, submissionExp: number, envelope: Uint8Array): Promise<void> {
    const task = await this.#opts.tasks.get(taskId);
    if (!task) throw new Error(`task ${taskId} vanished`);
    await dispatchTask(task, envelope, {
      js: this.#opts.js,
      hubKey: this.#opts.hubKey,
      tasks: this.#opts.tasks,
      submissionExp,
      ...(this.#opts.now ? { now: this.#opts.now } : {}),
    });
    await this.#opts.audit.append({
      actor: "hub",
      action: "task.dispatched",
      taskId,
      details: { tres: auditList(task.tres) },
    });
  }
}
