/**
 * The agent's record of every task it has seen, in a KV bucket of the controlled account (never reachable
 * from the hub link). It is what makes a task release at most once at this TRE: a task is claimed by creating
 * its record, so a redelivered Dispatch finds it and never starts the task again, and the record says `running`
 * before the executor starts, so an agent restarted mid-task knows which run it interrupted and which attempt
 * the next one is. Every transition it records is a step of the child life cycle (`childSteps`): any other throws
 * a `ChildTransitionError`; only the retry step raises the attempt.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { keepRecent, latestRecords, purgeKeys } from "../common/index.js";
import { type ChildState, checkChildStep, isRetryStep, isTerminal, type Mend } from "../protocol/index.js";

export const AGENT_TASKS_BUCKET = "AGENT_TASKS";

export interface AgentTaskEvent {
  state: ChildState;
  at: number;
  actor: string;
  reason?: string;
  /** The attempt this event belongs to, set on recording; absent means 1. */
  attempt?: number;
  /** After an end with nothing released: whose move it is (`StatusEvent.mend`), announced again after a restart. */
  mend?: Mend;
}

export interface AgentTask {
  taskId: string;
  state: ChildState;
  /** The hub-signed Dispatch, verbatim (absent for a task cancelled before its Dispatch arrived). */
  dispatch?: string;
  /** The current run of the task, from 1 (absent: 1). Only the retry step (`RETRY_STEP`) raises it. */
  attempt?: number;
  /**
   * A Cancel reached the task while it ran (its reason): the run was told to stop. Kept so that a restart before
   * the run recorded `cancelled` ends the task as cancelled instead of running it again.
   */
  cancelRequested?: string;
  history: AgentTaskEvent[];
}

/** The attempt a task record is at. */
export const attemptOf = (task: Pick<AgentTask, "attempt">): number => task.attempt ?? 1;

export class AgentStateError extends Error {
  override readonly name = "AgentStateError";
}

/** Task records `AgentState` keeps as it last wrote them. */
const WRITTEN_KEPT = 1_000;

export class AgentState {
  /**
   * Each record as this process last wrote it, with its revision, the oldest first: the next compare-and-set of a
   * record starts from it instead of reading it again. Only ever a starting point: if anyone else wrote the record
   * since, the write fails and the record is read; a change this copy refuses is checked against a fresh read.
   */
  readonly #written = new Map<string, { task: AgentTask; revision: number }>();

  private constructor(
    readonly kv: KV,
    private readonly js: JetStreamClient,
  ) {}

  static async open(ctrlJs: JetStreamClient): Promise<AgentState> {
    return new AgentState(await new Kvm(ctrlJs).create(AGENT_TASKS_BUCKET, { history: 1 }), ctrlJs);
  }

  async get(taskId: string): Promise<AgentTask | undefined> {
    const e = await this.kv.get(`task.${taskId}`);
    return e?.operation === "PUT" ? (e.json() as AgentTask) : undefined;
  }

  /**
   * The task's record as this process last wrote it, or as stored when it keeps no copy: for what this process
   * itself recorded (the history a Release carries), not for a decision another writer could change.
   */
  async known(taskId: string): Promise<AgentTask | undefined> {
    return this.#written.get(taskId)?.task ?? (await this.get(taskId));
  }

  /** Creates the record; returns undefined when one exists already (the task was seen before). */
  async claim(task: AgentTask): Promise<AgentTask | undefined> {
    try {
      this.#wrote(task, await this.kv.create(`task.${task.taskId}`, JSON.stringify(task)));
      return task;
    } catch {
      if (await this.get(task.taskId)) return undefined;
      throw new AgentStateError(`could not record task ${task.taskId}`);
    }
  }

  /**
   * Moves the task to `event.state` if `allowed(current)` holds, compare-and-set; given several events, through
   * each in turn, in the same write. Returns the new record, or undefined when the current state does not allow it
   * (another path got there first). A step the life cycle does not have throws `ChildTransitionError`: a bug,
   * never a race.
   */
  async transition(
    taskId: string,
    event: AgentTaskEvent | readonly AgentTaskEvent[],
    allowed: (current: ChildState) => boolean,
  ): Promise<AgentTask | undefined> {
    const events = Array.isArray(event) ? event : [event as AgentTaskEvent];
    return this.#update(taskId, (current) => {
      if (!allowed(current.state)) return undefined;
      let next = current;
      for (const e of events) {
        checkChildStep(taskId, next.state, e.state);
        const attempt = attemptOf(next) + (isRetryStep(next.state, e.state) ? 1 : 0);
        next = {
          ...next,
          state: e.state,
          ...(attempt > 1 ? { attempt } : {}),
          history: [...next.history, { ...e, ...(attempt > 1 ? { attempt } : {}) }],
        };
      }
      return next;
    });
  }

  /** Notes that a Cancel told the task's run to stop (see `AgentTask.cancelRequested`). */
  async markCancelRequested(taskId: string, reason: string): Promise<void> {
    await this.#update(taskId, (current) => ({ ...current, cancelRequested: reason }));
  }

  /** Compare-and-set of the task's record: `change` returns the new record, or undefined to leave it. */
  async #update(
    taskId: string,
    change: (current: AgentTask) => AgentTask | undefined,
  ): Promise<AgentTask | undefined> {
    let known = this.#written.get(taskId);
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = known ?? (await this.#read(taskId));
      const next = change(current.task);
      if (!next) {
        if (known === undefined) return undefined;
        known = undefined; // refused on this process's copy: confirm on the record as it is
        continue;
      }
      try {
        this.#wrote(next, await this.kv.update(`task.${taskId}`, JSON.stringify(next), current.revision));
        return next;
      } catch {
        // changed concurrently (a cancel, another process): read again
        this.#written.delete(taskId);
        known = undefined;
      }
    }
    throw new AgentStateError(`task ${taskId} is contended`);
  }

  async #read(taskId: string): Promise<{ task: AgentTask; revision: number }> {
    const e = await this.kv.get(`task.${taskId}`);
    if (e?.operation !== "PUT") throw new AgentStateError(`no task ${taskId}`);
    return { task: e.json() as AgentTask, revision: e.revision };
  }

  #wrote(task: AgentTask, revision: number): void {
    this.#written.delete(task.taskId);
    // An ended task is not written again but by a rare cancel or retry, which reads it. One awaiting review is: by
    // the airlock, with its outcome.
    if (isTerminal(task.state)) return;
    keepRecent(this.#written, task.taskId, { task, revision }, WRITTEN_KEPT);
  }

  /**
   * Removes the task's record from the bucket's stream, leaving no delete marker: for an ended task past its retention
   * (task-retention.ts). A Dispatch of it that comes after is refused as expired and recorded anew.
   */
  async forget(taskId: string): Promise<void> {
    this.#written.delete(taskId);
    await purgeKeys(this.js, AGENT_TASKS_BUCKET, [`task.${taskId}`]);
  }

  /** Every task's record, read in one pass (the records of every task this TRE saw within its retention). */
  all(): Promise<AgentTask[]> {
    return latestRecords<AgentTask>(this.js, AGENT_TASKS_BUCKET, "task.>");
  }
}
