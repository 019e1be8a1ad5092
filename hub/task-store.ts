/**
 * Task state on the hub, in a JetStream KV bucket of the FED account: one parent record per task
 * and one child record per (task, TRE) with the history of its transitions (who, when, why).
 * Writes are compare-and-set on the entry's revision, so several hub service instances can update
 * the same task without losing an event.
 *
 * Keys: `task.<taskId>`, `child.<taskId>.<tre>`, `envelope.<taskId>` (the researcher's signed
 * Submission, verbatim, kept so a dispatch can be completed by any instance after a crash).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { AnalysisKind, ChildState } from "../protocol/index.js";
import { deriveParentState, mayTransition, type ParentState } from "./task-lifecycle.js";

export const TASK_BUCKET = "TASK_STATE";

export interface TaskRecord {
  taskId: string;
  project: string;
  researcher: string;
  researcherKey: string;
  tres: string[];
  kind: AnalysisKind;
  title?: string;
  submittedAt: number;
  /** sha256 of the researcher's Submission envelope: a resubmission with the same id must match it. */
  submissionDigest: string;
  /** True once every Dispatch is stored in its TRE's TASKS stream. */
  dispatched: boolean;
  state: ParentState;
  updatedAt: number;
}

export interface ChildEvent {
  state: ChildState;
  at: number;
  actor: string;
  reason?: string;
  /** Id of the signed StatusEvent, or a hub-made id: an event is applied at most once. */
  eventId: string;
}

export interface ChildRecord {
  taskId: string;
  tre: string;
  state: ChildState;
  history: ChildEvent[];
}

export class TaskStoreError extends Error {
  override readonly name = "TaskStoreError";
}

const MAX_CAS_ATTEMPTS = 20;
const enc = (v: unknown) => JSON.stringify(v);

export class TaskStore {
  private constructor(readonly kv: KV) {}

  static async open(js: JetStreamClient): Promise<TaskStore> {
    return new TaskStore(await new Kvm(js).create(TASK_BUCKET, { history: 1 }));
  }

  /** Creates the task, its envelope and its queued children. Returns false if the id already exists. */
  async create(task: TaskRecord, envelope: Uint8Array): Promise<boolean> {
    // The envelope first: a parent record always has its envelope beside it.
    await this.kv.put(`envelope.${task.taskId}`, envelope);
    try {
      await this.kv.create(`task.${task.taskId}`, enc(task));
    } catch {
      if (await this.get(task.taskId)) return false;
      throw new TaskStoreError(`could not create task ${task.taskId}`);
    }
    for (const tre of task.tres) {
      const child: ChildRecord = {
        taskId: task.taskId,
        tre,
        state: "queued",
        history: [
          { state: "queued", at: task.submittedAt, actor: "hub", eventId: `queued-${task.taskId}-${tre}` },
        ],
      };
      await this.kv.put(`child.${task.taskId}.${tre}`, enc(child));
    }
    return true;
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const e = await this.kv.get(`task.${taskId}`);
    return e && e.operation === "PUT" ? (e.json() as TaskRecord) : undefined;
  }

  async envelope(taskId: string): Promise<Uint8Array | undefined> {
    const e = await this.kv.get(`envelope.${taskId}`);
    return e && e.operation === "PUT" ? e.value : undefined;
  }

  async children(taskId: string): Promise<ChildRecord[]> {
    const task = await this.get(taskId);
    return task ? this.#childrenOf(task) : [];
  }

  async #childrenOf(task: Pick<TaskRecord, "taskId" | "tres">): Promise<ChildRecord[]> {
    const taskId = task.taskId;
    const out: ChildRecord[] = [];
    for (const tre of task.tres) {
      const e = await this.kv.get(`child.${taskId}.${tre}`);
      if (e && e.operation === "PUT") out.push(e.json() as ChildRecord);
    }
    return out;
  }

  /** Task ids whose dispatch has not completed (for recovery after a crash). */
  async undispatched(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for await (const key of await this.kv.keys("task.>")) {
      const e = await this.kv.get(key);
      if (e && e.operation === "PUT") {
        const t = e.json() as TaskRecord;
        if (!t.dispatched && t.state !== "cancelled") out.push(t);
      }
    }
    return out;
  }

  /**
   * Applies a TRE's event to a child. Returns the new child, or undefined when the event was already
   * applied or is not a legal transition (a late or replayed event never reopens a finished child).
   */
  async applyChildEvent(taskId: string, tre: string, event: ChildEvent): Promise<ChildRecord | undefined> {
    const key = `child.${taskId}.${tre}`;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(key);
      if (e?.operation !== "PUT") throw new TaskStoreError(`no task ${taskId} for TRE ${tre}`);
      const child = e.json() as ChildRecord;
      if (child.history.some((h) => h.eventId === event.eventId)) return undefined;
      if (!mayTransition(child.state, event.state)) return undefined;
      const next: ChildRecord = { ...child, state: event.state, history: [...child.history, event] };
      try {
        await this.kv.update(key, enc(next), e.revision);
      } catch {
        continue; // another instance wrote first: read again
      }
      await this.refreshParent(taskId);
      return next;
    }
    throw new TaskStoreError(`child ${taskId}/${tre} is contended; event ${event.eventId} not applied`);
  }

  /** Marks the dispatch complete (or changes other parent fields) and re-derives the parent state. */
  async updateTask(taskId: string, change: (t: TaskRecord) => TaskRecord): Promise<TaskRecord> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const e = await this.kv.get(`task.${taskId}`);
      if (e?.operation !== "PUT") throw new TaskStoreError(`no task ${taskId}`);
      const changed = change(e.json() as TaskRecord);
      // The children of the record just read: no second read of the parent.
      const children = await this.#childrenOf(changed);
      const next: TaskRecord = {
        ...changed,
        state: deriveParentState(
          children.map((c) => c.state),
          changed.dispatched,
        ),
        updatedAt: Date.now(),
      };
      try {
        await this.kv.update(e.key, enc(next), e.revision);
        return next;
      } catch {
        // concurrent update: read again
      }
    }
    throw new TaskStoreError(`task ${taskId} is contended`);
  }

  private async refreshParent(taskId: string): Promise<void> {
    await this.updateTask(taskId, (t) => t);
  }
}
