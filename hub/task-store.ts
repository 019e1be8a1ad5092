/**
 * Task state on the hub, in a JetStream KV bucket of the FED account: one parent record per task
 * and one child record per (task, TRE) with the history of its transitions (who, when, why).
 * Writes are compare-and-set on the entry's revision, so several hub service instances can update
 * the same task without losing an event.
 *
 * Keys: `task.<taskId>`, `child.<taskId>.<tre>` (written from the first event of that TRE's child on: until then
 * the child is queued, as the parent's `tres` say), `envelope.<taskId>` (the researcher's signed
 * Submission, verbatim, kept so a dispatch can be completed by any instance after a crash),
 * `researcher.<researcherKey>.<taskId>` (an index: a researcher's own tasks are listed without a full scan),
 * `audited.<taskId>.<tre>` (the hub's audit log holds that TRE's Release of the task, when the child's history
 * does not hold the step the Release carries).
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, KvWatchInclude } from "@nats-io/kv";
import { KeyedChain, keepRecent, openBucket } from "../common/index.js";
import {
  type AnalysisKind,
  type ChildState,
  deriveParentState,
  isPassedStep,
  isTerminal,
  type Mend,
  mayTransition,
  type ParentState,
} from "../protocol/index.js";

const TASK_BUCKET = "TASK_STATE";

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
  /** When the dispatch completed: every Dispatch was stored by then, so none is older in TASKS. */
  dispatchedAt?: number;
  state: ParentState;
  updatedAt: number;
  /**
   * Each TRE's child as the parent's state sees it (`ChildMark`): the parent is derived from these, not by reading
   * every child again. Absent in records from before marks: such a parent reads its children once, then has them.
   */
  marks?: Record<string, ChildMark>;
}

/**
 * A child's state as of its last move that can change the parent's (leaving `queued`, reaching an end, or leaving
 * `expired`), with the child record's revision after that move. Moves between two steps under way are not marked:
 * they never change the parent. A mark only gives way to one of a later revision, so instances that write marks in
 * any order, or again after a redelivery, agree.
 */
export interface ChildMark {
  state: ChildState;
  revision: number;
}

export interface ChildEvent {
  state: ChildState;
  at: number;
  actor: string;
  reason?: string;
  /** Id of the signed StatusEvent, or a hub-made id: an event is applied at most once. */
  eventId: string;
  /** The TRE's run of the task this event belongs to (a TRE's events: 1 when it did not say); absent for the hub's. */
  attempt?: number;
  /** Whose move it is after this end, as the TRE said it (`StatusEvent.mend`). */
  mend?: Mend;
}

export interface ChildRecord {
  taskId: string;
  tre: string;
  state: ChildState;
  /** The TRE's run of the task the state belongs to; absent: 1. */
  attempt?: number;
  /** What the TRE claimed that the hub cannot confirm (see `ChildView.discrepancy`); cleared once it can. */
  discrepancy?: string;
  /** The TRE's release status held back until its Release is stored (`holdClaim`), then applied. */
  claim?: ChildEvent;
  history: ChildEvent[];
}

export class TaskStoreError extends Error {
  override readonly name: string = "TaskStoreError";
}

/** The task, or its child for a TRE, has no record: nothing to apply an event to, now or later. */
export class UnknownTaskError extends TaskStoreError {
  override readonly name = "UnknownTaskError";
}

const MAX_CAS_ATTEMPTS = 20;
/** Tasks whose TREs `tresOf` keeps in memory. */
const TRES_KEPT = 10_000;
/** Child records, and parent records, that `TaskStore` keeps as it last wrote them (each). */
const COPIES_KEPT = 20_000;
/** A task listed as pending whose record never appeared this long after its submission: its create died. */
const ABANDONED_CREATE_MS = 10 * 60_000;
const enc = (v: unknown) => JSON.stringify(v);
const ownerKey = (t: Pick<TaskRecord, "researcherKey" | "taskId">) =>
  `researcher.${t.researcherKey}.${t.taskId}`;

/** A child as it starts, and stays until its first event is written: queued since the task was submitted. */
function queuedChild(task: Pick<TaskRecord, "taskId" | "submittedAt">, tre: string): ChildRecord {
  return {
    taskId: task.taskId,
    tre,
    state: "queued",
    history: [
      { state: "queued", at: task.submittedAt, actor: "hub", eventId: `queued-${task.taskId}-${tre}` },
    ],
  };
}

/** `history` with `event` placed after every event that happened no later than it. */
function withLateEvent(history: readonly ChildEvent[], event: ChildEvent): ChildEvent[] {
  const at = history.findIndex((h) => h.at > event.at);
  return at < 0 ? [...history, event] : [...history.slice(0, at), event, ...history.slice(at)];
}

/** Writes to one task's records, as they happen (`TaskStore.watch`). */
export interface TaskWatch {
  next(timeoutMs: number, signal: AbortSignal): Promise<boolean>;
  stop(): void;
}

/** `marks` with `mark` of `tre` added, unless a mark of the same or a later revision is there. */
function withMark(marks: Record<string, ChildMark>, tre: string, mark: ChildMark): Record<string, ChildMark> {
  const held = marks[tre];
  return held !== undefined && held.revision >= mark.revision ? marks : { ...marks, [tre]: mark };
}

export class TaskStore {
  /**
   * Per task: its parent's refreshes one at a time, the one that has not started yet (`refreshParent`), and the
   * children's marks that refresh will write.
   */
  readonly #refreshes = new KeyedChain();
  readonly #refreshWaiting = new Map<string, Promise<TaskRecord>>();
  readonly #pendingMarks = new Map<string, Record<string, ChildMark>>();
  /**
   * Each child record as this instance last wrote it, with its revision, the oldest first: the next event of the
   * child starts from it instead of reading the record. Only ever a starting point: a record another instance wrote
   * since fails the compare-and-set and is read; an event this copy would drop is checked against a fresh read.
   */
  readonly #childCopies = new Map<string, { child: ChildRecord; revision: number }>();
  /**
   * Each parent record as this instance last wrote it, with its revision, the oldest first: a refresh starts from
   * it. A parent another instance wrote since fails the compare-and-set and is read. Its marks and `dispatched`
   * only ever move forward, so a refresh that would change nothing on this copy changes nothing on the record.
   */
  readonly #parentCopies = new Map<string, { task: TaskRecord; revision: number }>();
  /** The TREs of the tasks seen lately (`tresOf`), the oldest first. */
  readonly #tres = new Map<string, readonly string[]>();
  /** Reads of a task's TREs under way (`tresOf`). */
  readonly #tresReads = new Map<string, Promise<readonly string[] | undefined>>();

  private constructor(readonly kv: KV) {}

  static async open(js: JetStreamClient): Promise<TaskStore> {
    return new TaskStore(await openBucket(js, TASK_BUCKET, { history: 1 }));
  }

  /**
   * Creates the task, its envelope and its queued children. Returns false if the id already exists.
   *
   * The parent record is written last: a hub that dies part-way (the researcher then sends the same submission
   * again) leaves at most an envelope and some children, which the retry completes; never a task that lacks a
   * TRE's child, whose events could then never be applied and which would look finished without that TRE.
   * Children are created only where absent, so a slow duplicate never resets a child another instance moved on.
   */
  async create(task: TaskRecord, envelope: Uint8Array): Promise<boolean> {
    if (await this.get(task.taskId)) return false;
    // Everything but the parent at once: none depends on another, and the parent still comes last. Until its
    // dispatch completes, the task is listed under `pending.` (before its record exists, so no crash can leave a
    // recorded task off the list): any hub instance finishes what a lost one began. No child is written: each is
    // queued (`queuedChild`) until its first event.
    await Promise.all([
      this.kv.put(`envelope.${task.taskId}`, envelope),
      ...(task.dispatched ? [] : [this.kv.put(`pending.${task.taskId}`, String(task.submittedAt))]),
      this.kv.put(ownerKey(task), String(task.submittedAt)),
    ]);
    // Every child starts queued: any move of one is of a later revision than this mark.
    const marks = Object.fromEntries(
      task.tres.map((tre) => [tre, { state: "queued", revision: 0 } as ChildMark]),
    );
    const parent = { ...task, marks };
    try {
      this.#keepParent(parent, await this.kv.create(`task.${task.taskId}`, enc(parent)));
    } catch {
      if (await this.get(task.taskId)) return false;
      throw new TaskStoreError(`could not create task ${task.taskId}`);
    }
    // Its TREs, and the children as they start, never written: a TRE's first event reads neither.
    keepRecent(this.#tres, task.taskId, task.tres, TRES_KEPT);
    for (const tre of task.tres) this.#keepChild(`child.${task.taskId}.${tre}`, queuedChild(task, tre), 0);
    return true;
  }

  /**
   * Watches the task's parent and children from now on: `next` resolves true at the next write to any of them (or
   * one made since the last `next`), false after `timeoutMs` or once `signal` aborts. `stop` when done.
   */
  async watch(taskId: string): Promise<TaskWatch> {
    const watch = await this.kv.watch({
      key: [`task.${taskId}`, `child.${taskId}.*`],
      include: KvWatchInclude.UpdatesOnly,
    });
    const writes = watch[Symbol.asyncIterator]();
    // One read of the watch at a time: a write that arrives after a `next` gave up is kept for the following one.
    let pending: Promise<boolean> | undefined;
    return {
      next: (timeoutMs, signal) => {
        pending ??= writes.next().then(
          (r) => r.done !== true,
          () => false,
        );
        const write = pending;
        return new Promise<boolean>((resolve) => {
          let settled = false;
          const settle = (changed: boolean) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            signal.removeEventListener("abort", abort);
            resolve(changed);
          };
          const abort = () => settle(false);
          const timer = setTimeout(abort, timeoutMs);
          signal.addEventListener("abort", abort, { once: true });
          if (signal.aborted) abort();
          void write.then((changed) => {
            if (settled) return; // given up on: the write stays pending for the next `next`
            if (pending === write) pending = undefined;
            settle(changed);
          });
        });
      },
      stop: () => watch.stop(),
    };
  }

  /**
   * The TREs a task was sent to. They never change once the task is recorded, so they are kept in memory for the
   * tasks recorded or seen lately: every status event checks them, and need not read the parent for it. The first
   * events of a task another instance recorded come nearly together (one from each TRE): they share one read.
   */
  tresOf(taskId: string): Promise<readonly string[] | undefined> {
    const known = this.#tres.get(taskId);
    if (known) return Promise.resolve(known);
    let read = this.#tresReads.get(taskId);
    if (!read) {
      read = this.get(taskId)
        .then((task) => {
          if (task) keepRecent(this.#tres, taskId, task.tres, TRES_KEPT);
          return task?.tres;
        })
        .finally(() => this.#tresReads.delete(taskId));
      this.#tresReads.set(taskId, read);
    }
    return read;
  }

  async get(taskId: string): Promise<TaskRecord | undefined> {
    const e = await this.kv.get(`task.${taskId}`);
    return e && e.operation === "PUT" ? (e.json() as TaskRecord) : undefined;
  }

  /** The researcher's own tasks (by their public key), the newest first, at most `limit`. */
  async ofResearcher(researcherKey: string, limit: number): Promise<TaskRecord[]> {
    const prefix = `researcher.${researcherKey}.`;
    const ids: string[] = [];
    for await (const key of await this.kv.keys(`${prefix}>`)) ids.push(key.slice(prefix.length));
    // Task ids are ULIDs: in time order as strings.
    ids.sort().reverse();
    const out: TaskRecord[] = [];
    for (const taskId of ids) {
      if (out.length >= limit) break;
      const task = await this.get(taskId);
      if (task?.researcherKey === researcherKey) out.push(task);
    }
    return out;
  }

  /**
   * Adds the tasks recorded before the researcher index existed to it (on start). Reads only the key lists
   * once every task is indexed.
   */
  async indexResearchers(): Promise<void> {
    const indexed = new Set<string>();
    for await (const key of await this.kv.keys("researcher.>"))
      indexed.add(key.slice(key.lastIndexOf(".") + 1));
    for await (const key of await this.kv.keys("task.>")) {
      if (indexed.has(key.slice("task.".length))) continue;
      const task = await this.get(key.slice("task.".length));
      if (task) await this.kv.put(ownerKey(task), String(task.submittedAt));
    }
  }

  async envelope(taskId: string): Promise<Uint8Array | undefined> {
    const e = await this.kv.get(`envelope.${taskId}`);
    return e && e.operation === "PUT" ? e.value : undefined;
  }

  async children(taskId: string): Promise<ChildRecord[]> {
    const task = await this.get(taskId);
    return task ? this.childrenOf(task) : [];
  }

  /** One TRE's child of the task (queued when none of its events is written yet). */
  async child(taskId: string, tre: string): Promise<ChildRecord | undefined> {
    try {
      return (await this.#readChild(taskId, tre)).child;
    } catch (e) {
      if (e instanceof UnknownTaskError) return undefined;
      throw e;
    }
  }

  /** The children of a task whose record the caller holds (its TREs and submission time never change). */
  async childrenOf(task: Pick<TaskRecord, "taskId" | "tres" | "submittedAt">): Promise<ChildRecord[]> {
    // Read at once, not one after another: a task to a hundred TREs costs one round trip's wait, not a hundred.
    const entries = await Promise.all(task.tres.map((tre) => this.kv.get(`child.${task.taskId}.${tre}`)));
    return entries.flatMap((e, i) =>
      e === null
        ? [queuedChild(task, task.tres[i]!)]
        : e.operation === "PUT"
          ? [e.json() as ChildRecord]
          : [],
    );
  }

  /** Marks the task's dispatch complete (every TRE's Dispatch is stored) and drops it from `pendingDispatch`. */
  async markDispatched(taskId: string, now = Date.now()): Promise<void> {
    // In line with the parent's refreshes (the TREs' first events race it): one write after the other, not two
    // compare-and-sets of the same revision, one of them failing.
    await this.#refreshes.run(taskId, () =>
      this.updateTask(taskId, (t) => (t.dispatched ? t : { ...t, dispatched: true, dispatchedAt: now })),
    );
    await this.kv.delete(`pending.${taskId}`);
  }

  /**
   * Tasks whose dispatch began more than `olderThanMs` ago and has not completed: the instance dispatching them
   * died, or a TASKS stream did not answer (a clustered hub electing a new leader). Cheap: it reads only the
   * pending list, so every instance can look every few seconds.
   */
  async pendingDispatch(olderThanMs: number, now = Date.now()): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for await (const key of await this.kv.keys("pending.>")) {
      const task = await this.get(key.slice("pending.".length));
      if (task === undefined) {
        // Listed before its record is written: gone for good only when that create never finished.
        const since = Number((await this.kv.get(key))?.string() ?? 0);
        if (since <= now - ABANDONED_CREATE_MS) await this.kv.delete(key);
      } else if (task.dispatched || task.state === "cancelled") {
        await this.kv.delete(key);
      } else if (task.submittedAt <= now - olderThanMs) {
        out.push(task);
      }
    }
    return out;
  }

  /**
   * Dispatched tasks still under way whose dispatch completed at or before `cutoff` (a task from before
   * `dispatchedAt` was recorded counts from its submission), by a full scan: for the expiry check, which runs
   * rarely.
   */
  async dispatchedBefore(cutoff: number): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for await (const key of await this.kv.keys("task.>")) {
      const e = await this.kv.get(key);
      if (e?.operation !== "PUT") continue;
      const t = e.json() as TaskRecord;
      if (
        t.dispatched &&
        (t.state === "dispatched" || t.state === "running") &&
        (t.dispatchedAt ?? t.submittedAt) <= cutoff
      )
        out.push(t);
    }
    return out;
  }

  /** Every task whose dispatch has not completed, by a full scan (on start: tasks from before `pendingDispatch`). */
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
   * applied or is not a legal transition (a late or replayed event never reopens a finished child). A late
   * report of a step the child has passed (`isPassedStep`) is added to its history without moving its state.
   */
  async applyChildEvent(
    taskId: string,
    tre: string,
    event: ChildEvent,
    passed: readonly ChildEvent[] = [],
  ): Promise<ChildRecord | undefined> {
    const key = `child.${taskId}.${tre}`;
    let copy = this.#childCopies.get(key);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { child, revision } = copy ?? (await this.#readChild(taskId, tre));
      if (child.history.some((h) => h.eventId === event.eventId)) {
        // Applied before, perhaps by a handler that failed before the parent was refreshed: it is now (a parent that
        // has this mark already is not written again), from the parent as it is, not as this instance last wrote it.
        this.#parentCopies.delete(taskId);
        await this.refreshParent(taskId, tre, { state: child.state, revision });
        return undefined;
      }
      // The hub's own events (a cancel request) belong to whichever attempt the child is at.
      const attempts = { from: child.attempt ?? 1, to: event.attempt ?? child.attempt ?? 1 };
      // The steps the TRE passed on the way, announced with the event: those still ahead of the child go first.
      const steps: ChildEvent[] = [];
      let from = child.state;
      for (const step of passed) {
        if (!mayTransition(from, step.state, attempts)) continue;
        steps.push(step);
        from = step.state;
      }
      const moves = mayTransition(from, event.state, attempts);
      if (!moves && !isPassedStep(child.state, event.state, attempts)) {
        if (copy === undefined) return undefined;
        copy = undefined; // dropped on this instance's copy: confirm on the record as it is
        continue;
      }
      // A late step goes into the history at its time; the state never moves back.
      // A child that moves to an end leaves behind any claim held back for it.
      const { claim: _claim, discrepancy: _discrepancy, ...open } = child;
      const next: ChildRecord = moves
        ? {
            ...(isTerminal(event.state) ? open : child),
            state: event.state,
            ...(attempts.to > 1 ? { attempt: attempts.to } : {}),
            history: [...child.history, ...steps, event],
          }
        : { ...child, history: withLateEvent(child.history, event) };
      let written: number;
      try {
        written = await this.#writeChild(key, next, revision);
      } catch {
        // another instance wrote first: read again
        this.#childCopies.delete(key);
        copy = undefined;
        continue;
      }
      this.#keepChild(key, next, written);
      if (moves && this.#movesParent(taskId, child.state, event.state))
        await this.refreshParent(taskId, tre, { state: next.state, revision: written });
      return next;
    }
    throw new TaskStoreError(`child ${taskId}/${tre} is contended; event ${event.eventId} not applied`);
  }

  /**
   * Whether a child's move from `from` to `to` can change its parent's state (deriveParentState): a child reaching
   * an end, or an `expired` one its TRE's late word reopens; or the first child to leave `queued`, which makes the
   * parent `running`. Once this instance has written the parent `running`, another child leaving `queued` changes
   * nothing: the parent's state only moves on from there, and only on the ends, whose marks are always written.
   */
  #movesParent(taskId: string, from: ChildState, to: ChildState): boolean {
    if (from === "expired" || isTerminal(to)) return true;
    return from === "queued" && this.#parentCopies.get(taskId)?.task.state !== "running";
  }

  /**
   * A child and the revision a write of it must follow: 0 for one never written, queued as its parent was recorded
   * (the parent names its TRE). One whose record was deleted or purged is gone, like one the parent does not name.
   */
  async #readChild(taskId: string, tre: string): Promise<{ child: ChildRecord; revision: number }> {
    const e = await this.kv.get(`child.${taskId}.${tre}`);
    if (e?.operation === "PUT") return { child: e.json() as ChildRecord, revision: e.revision };
    const task = e === null ? (this.#parentCopies.get(taskId)?.task ?? (await this.get(taskId))) : undefined;
    if (!task?.tres.includes(tre)) throw new UnknownTaskError(`no task ${taskId} for TRE ${tre}`);
    return { child: queuedChild(task, tre), revision: 0 };
  }

  /** Writes a child over `revision` (0: its first write), failing if anyone wrote it since. */
  #writeChild(key: string, child: ChildRecord, revision: number): Promise<number> {
    return this.kv.put(key, enc(child), { previousSeq: revision });
  }

  #keepChild(key: string, child: ChildRecord, revision: number): void {
    keepRecent(this.#childCopies, key, { child, revision }, COPIES_KEPT);
  }

  /** Whether the hub's audit log has the record of TRE `tre`'s Release of the task (`markReleaseAudited`). */
  async releaseAudited(taskId: string, tre: string): Promise<boolean> {
    return (await this.kv.get(`audited.${taskId}.${tre}`))?.operation === "PUT";
  }

  /** Notes that the Release's audit record is written, so a copy of the Release handled later writes none. */
  async markReleaseAudited(taskId: string, tre: string): Promise<void> {
    await this.kv.put(`audited.${taskId}.${tre}`, "1");
  }

  /**
   * Holds back a TRE's release status that the hub cannot confirm yet (no Release of that TRE stored, or one that
   * says otherwise): the child does not move, `discrepancy` says why, and `claim` keeps the event for when the
   * Release arrives. Returns false when the event was applied already or the child has ended.
   */
  async holdClaim(taskId: string, tre: string, event: ChildEvent, discrepancy: string): Promise<boolean> {
    const key = `child.${taskId}.${tre}`;
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { child, revision } = await this.#readChild(taskId, tre);
      if (isTerminal(child.state) || child.history.some((h) => h.eventId === event.eventId)) return false;
      const next = { ...child, claim: event, discrepancy };
      try {
        this.#keepChild(key, next, await this.#writeChild(key, next, revision));
        return true;
      } catch {
        // another instance wrote first: read again
      }
    }
    throw new TaskStoreError(`child ${taskId}/${tre} is contended; claim ${event.eventId} not held`);
  }

  /**
   * Changes parent fields (the dispatch's completion) and re-derives the parent's state from its children's marks,
   * with `marks` added. A parent from before marks reads its children once for them. Nothing is written when
   * nothing changes.
   */
  async updateTask(
    taskId: string,
    change: (t: TaskRecord) => TaskRecord,
    marks: Record<string, ChildMark> = {},
  ): Promise<TaskRecord> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const { task: current, revision } = this.#parentCopies.get(taskId) ?? (await this.#readParent(taskId));
      const changed = change(current);
      let merged = current.marks ?? (await this.#marksRead(changed));
      for (const [tre, mark] of Object.entries(marks)) merged = withMark(merged, tre, mark);
      const state = deriveParentState(
        changed.tres.map((tre) => merged[tre]?.state ?? "queued"),
        changed.dispatched,
      );
      if (changed === current && merged === current.marks && state === current.state) return current;
      const next: TaskRecord = { ...changed, marks: merged, state, updatedAt: Date.now() };
      try {
        this.#keepParent(next, await this.kv.update(`task.${taskId}`, enc(next), revision));
        return next;
      } catch {
        // concurrent update: read again
        this.#parentCopies.delete(taskId);
      }
    }
    throw new TaskStoreError(`task ${taskId} is contended`);
  }

  async #readParent(taskId: string): Promise<{ task: TaskRecord; revision: number }> {
    const e = await this.kv.get(`task.${taskId}`);
    if (e?.operation !== "PUT") throw new UnknownTaskError(`no task ${taskId}`);
    return { task: e.json() as TaskRecord, revision: e.revision };
  }

  #keepParent(task: TaskRecord, revision: number): void {
    keepRecent(this.#parentCopies, task.taskId, { task, revision }, COPIES_KEPT);
  }

  /** The marks of a parent from before marks, from its children as they are now. */
  async #marksRead(task: Pick<TaskRecord, "taskId" | "tres">): Promise<Record<string, ChildMark>> {
    const entries = await Promise.all(task.tres.map((tre) => this.kv.get(`child.${task.taskId}.${tre}`)));
    const marks: Record<string, ChildMark> = {};
    for (const [i, e] of entries.entries())
      if (e?.operation === "PUT")
        marks[task.tres[i]!] = { state: (e.json() as ChildRecord).state, revision: e.revision };
    return marks;
  }

  /**
   * Adds a child's mark to its parent and re-derives the parent's state. One refresh of a task's parent at a time
   * in this process, and a refresh that has not started yet takes the marks of every child that moves meanwhile:
   * a hundred children ending at once make a few parent writes, not a hundred that retry each other's
   * compare-and-set.
   */
  private refreshParent(taskId: string, tre: string, mark: ChildMark): Promise<TaskRecord> {
    this.#pendingMarks.set(taskId, withMark(this.#pendingMarks.get(taskId) ?? {}, tre, mark));
    const waiting = this.#refreshWaiting.get(taskId);
    if (waiting) return waiting;
    // The chain starts a refresh on a later tick, so it is marked waiting before it starts.
    const refresh = this.#refreshes.run(taskId, () => {
      this.#refreshWaiting.delete(taskId);
      const marks = this.#pendingMarks.get(taskId) ?? {};
      this.#pendingMarks.delete(taskId);
      return this.updateTask(taskId, (t) => t, marks);
    });
    this.#refreshWaiting.set(taskId, refresh);
    return refresh;
  }
}
