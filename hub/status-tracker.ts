/**
 * Follows what the TREs send back: a durable consumer on the federation's view of every TRE's
 * RESULTS stream. Each message is verified (TRE key, type, subject); a StatusEvent moves that TRE's
 * child state, a Release is kept for the researcher; anything refused is acked away to a dead
 * letter with its reason. Several hub instances may share the consumer: state only moves forward
 * and every event applies at most once, so order across instances does not matter.
 */
import { AckPolicy, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { auditLimits } from "../audit/index.js";
import { openBucket, recordDeadLetter } from "../common/index.js";
import { openEnvelope, parseTreSubject, type TrustStore } from "../protocol/index.js";
import type { AuditSink } from "./submission-service.js";
import type { TaskStore } from "./task-store.js";

/** Released results, kept verbatim (signed) for the researcher: key `<taskId>.<tre>`. */
export const RELEASE_BUCKET = "RELEASES";

export type StatusTrackerEvent =
  | { type: "status"; taskId: string; tre: string; state: string; applied: boolean }
  | { type: "release"; taskId: string; tre: string; outputs: number }
  | { type: "refused"; subject: string; code: string; reason: string }
  | { type: "error"; error: Error };

export interface StatusTrackerOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** The FED stream that sources every TRE's RESULTS. */
  stream: string;
  /** Durable consumer name shared by every hub instance. Default "hub-status". */
  durable?: string;
  tasks: TaskStore;
  /** The TREs' public keys (role `tre`, bound to their TRE). */
  treTrust: TrustStore;
  audit: AuditSink;
  onEvent?: (e: StatusTrackerEvent) => void;
}

export class StatusTracker {
  #stopped = false;
  readonly #done: Promise<void>;
  #close: (() => void) | undefined;

  private constructor(
    private readonly opts: StatusTrackerOptions,
    private readonly releases: KV,
  ) {
    this.#done = this.#run();
  }

  static async start(opts: StatusTrackerOptions): Promise<StatusTracker> {
    const releases = await openBucket(opts.js, RELEASE_BUCKET, { history: 1 });
    const durable = opts.durable ?? "hub-status";
    try {
      await opts.jsm.consumers.info(opts.stream, durable);
    } catch {
      await opts.jsm.consumers.add(opts.stream, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: 30_000_000_000,
        max_ack_pending: 1000,
      });
    }
    return new StatusTracker(opts, releases);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#close?.();
    await this.#done;
  }

  async #run(): Promise<void> {
    const consumer = await this.opts.js.consumers.get(this.opts.stream, this.opts.durable ?? "hub-status");
    while (!this.#stopped) {
      const messages = await consumer.consume({ max_messages: 256 });
      this.#close = () => void messages.close();
      for await (const m of messages) {
        await this.#handle(m);
        if (this.#stopped) break;
      }
    }
  }

  async #handle(m: JsMsg): Promise<void> {
    try {
      await this.#apply(m);
      m.ack();
    } catch (e) {
      // Our own failure (KV unavailable, …): retry later rather than lose the event.
      this.opts.onEvent?.({ type: "error", error: e instanceof Error ? e : new Error(String(e)) });
      m.nak(1000);
    }
  }

  async #refuse(m: JsMsg, code: string, message: string, field?: string): Promise<void> {
    this.opts.onEvent?.({ type: "refused", subject: m.subject, code, reason: message });
    await recordDeadLetter(
      this.opts.js,
      "hub",
      {
        subject: m.subject,
        stream: this.opts.stream,
        seq: m.seq,
        code,
        message,
        ...(field ? { field } : {}),
      },
      m.data,
    );
    await this.opts.audit.append({
      actor: "hub",
      action: "message.refused",
      // A hostile subject can be kilobytes long; the dead letter keeps it whole.
      details: { code, subject: m.subject.slice(0, auditLimits.detailStringChars) },
    });
  }

  async #apply(m: JsMsg): Promise<void> {
    const where = parseTreSubject(m.subject);
    if (
      where?.direction !== "out" ||
      !where.taskId ||
      (where.kind !== "status" && where.kind !== "release")
    ) {
      return this.#refuse(m, "wrong_subject", `not a TRE result subject: ${m.subject}`);
    }
    const opened = openEnvelope(m.data, {
      trust: this.opts.treTrust,
      expect: where.kind,
      tre: where.tre,
      allowExpired: true, // stored events are facts even when read after their expiry (a hub down for days)
    });
    if (!opened.ok) return this.#refuse(m, opened.error.code, opened.error.message, opened.error.field);
    const v = opened.value;
    if (v.type !== "status" && v.type !== "release") return;
    if (v.body.taskId !== where.taskId) {
      return this.#refuse(m, "wrong_subject", `${v.type} for task ${v.body.taskId} arrived on ${m.subject}`);
    }
    const task = await this.opts.tasks.get(v.body.taskId);
    if (!task) return this.#refuse(m, "unknown_task", `no task ${v.body.taskId}`);
    if (!task.tres.includes(v.body.tre)) {
      return this.#refuse(m, "wrong_tre", `task ${v.body.taskId} was not sent to TRE ${v.body.tre}`, "tre");
    }
    if (v.type === "status") {
      const child = await this.opts.tasks.applyChildEvent(v.body.taskId, v.body.tre, {
        state: v.body.state,
        at: v.body.iat,
        actor: `${v.signer.name}/${v.body.actor}`,
        eventId: v.body.id,
        ...(v.body.reason ? { reason: v.body.reason } : {}),
      });
      // The same signed event stored again (not a redelivery of this message): a replay, refused on the record.
      // An event that cannot follow the child's state, and is not a late report of a step it passed, is dropped.
      if (!child && !m.redelivered) {
        const now = (await this.opts.tasks.children(v.body.taskId)).find((c) => c.tre === v.body.tre);
        if (now?.history.some((h) => h.eventId === v.body.id))
          return this.#refuse(m, "replayed", `status ${v.body.id} was already applied`, "id");
      }
      this.opts.onEvent?.({
        type: "status",
        taskId: v.body.taskId,
        tre: v.body.tre,
        state: v.body.state,
        applied: child !== undefined,
      });
      return;
    }
    // A TRE releases a task at most once: the first Release stands.
    const key = `${v.body.taskId}.${v.body.tre}`;
    try {
      await this.releases.create(key, m.data);
    } catch (e) {
      const first = await this.releases.get(key);
      if (!first) throw e;
      // A redelivery of the stored Release is nothing new; any other is a second Release, refused on the record.
      if (m.redelivered && Buffer.from(first.value).equals(m.data)) return;
      return this.#refuse(
        m,
        "replayed",
        `TRE ${v.body.tre} already released task ${v.body.taskId}; the first Release stands`,
      );
    }
    await this.opts.audit.append({
      actor: v.signer.name,
      action: "release.received",
      taskId: v.body.taskId,
      tre: v.body.tre,
      details: { outputs: v.body.outputs.length, withheld: v.body.withheld.length },
    });
    this.opts.onEvent?.({
      type: "release",
      taskId: v.body.taskId,
      tre: v.body.tre,
      outputs: v.body.outputs.length,
    });
  }
}
