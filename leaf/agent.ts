/**
 * The TRE agent: takes tasks from INBOX, trusts nothing the hub says without checking, and runs each
 * approved task at most once.
 *
 * For every Dispatch: verify it against the pinned hub key (during a change-over, either pinned key) and this
 * TRE's name; verify the researcher's own signature on the Submission inside, with the researcher keys this TRE
 * knows; re-check the TRE's own approvals (leaf.yaml); record `running` before the executor starts; inject a
 * per-task credential from the broker and revoke it when the task ends; hold the outputs in the airlock. Every
 * transition is a record in the TRE's own audit log, written at once, and leaves the TRE in a TRE-signed
 * StatusEvent in OUTBOX or in the Release (task-transitions.ts says which and when). A message that fails
 * verification goes to the TRE's dead letters with its reason; one signed by a hub key other than those pinned is
 * also answered, once, with the task `rejected` (hub-key-refusal.ts), so that its researcher learns why.
 *
 * Released at most once: a task is claimed by creating its record in the controlled account, and the Dispatch
 * message is acknowledged only after that, so a redelivered Dispatch finds the record. An agent restarted
 * mid-task finds `running` and runs the task again as its next attempt (what the interrupted run held is
 * discarded; at most `maxTaskAttempts` runs), as it does after an executor failure its type calls retryable.
 *
 * This file is the intake; the admission is task-admission.ts, the run task-execution.ts, a cancel
 * task-cancel.ts, the recording of transitions task-transitions.ts, and what happens on a restart
 * agent-recovery.ts.
 */
import { type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { match } from "ts-pattern";
import { AuditLog } from "../audit/index.js";
import { asError, consumeSigned, type SignedConsumer, Slots } from "../common/index.js";
import type { DatasetDefinition, Executor } from "../executors/index.js";
import {
  type ChildState,
  DeadLetterCode,
  type Dispatch,
  openEnvelope,
  openTaskMessage,
  parseTreSubject,
  type Refusal,
  refusal,
  type SigningKey,
  streams,
  type TaskSubject,
  TrustStore,
} from "../protocol/index.js";
import { cleanUpExecutors, recoverTasks } from "./agent-recovery.js";
import { AgentState, type AgentTask, type AgentTaskEvent } from "./agent-state.js";
import { Airlock, type AirlockEvent, type ReviewPolicy } from "./airlock.js";
import { AirlockService } from "./airlock-service.js";
import { AirlockStore } from "./airlock-store.js";
import { DEFAULT_DISCLOSURE_RULES, type DisclosureRules } from "./disclosure-rules.js";
import { unpinnedReason, unpinnedSigner } from "./hub-key-refusal.js";
import type { HubKeys } from "./hub-link-config.js";
import type { ProjectApproval } from "./leaf-config.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";
import { StatusPublisher } from "./status-publisher.js";
import { type AdmissionConfig, admit } from "./task-admission.js";
import { applyCancel } from "./task-cancel.js";
import {
  type AdmittedTask,
  type CredentialIssuer,
  type ExecutionContext,
  executeTask,
  type RunEnd,
} from "./task-execution.js";
import { DAY_MS, forgetEndedTasks } from "./task-retention.js";
import { AGENT_ACTOR as AGENT, TaskTransitions } from "./task-transitions.js";

/** Why a task is `received`: its Dispatch carries the hub's signature. */
const RECEIVED = "dispatch verified against the pinned hub key";

/** Why a task is `accepted`: this TRE's own approvals let it through. */
const acceptedReason = (admitted: AdmittedTask) =>
  `approved by this TRE for project ${admitted.submission.project}`;

export type AgentEvent =
  | { type: "task"; taskId: string; state: ChildState; reason?: string }
  | { type: "refused"; subject: string; code: string; reason: string }
  | { type: "recovered"; taskId: string; state: ChildState }
  | { type: "cleaned"; executor: string; removed: number }
  | { type: "forgotten"; tasks: number }
  /** A container task failed because its image, allowed for its project, is not in the engine (leaf.yaml's to mend). */
  | { type: "image-missing"; taskId: string; project: string; image: string }
  | { type: "airlock"; event: AirlockEvent }
  | { type: "error"; taskId?: string; error: Error };

export interface AgentOptions {
  tre: string;
  treKey: SigningKey;
  /**
   * The hub's signing key pinned in leaf.yaml, and its next key during a change-over: the only keys Dispatches and
   * Cancels are accepted from.
   */
  hubKeys: HubKeys;
  /** Researchers this TRE knows, by key. */
  researchers: readonly { name: string; publicKey: string }[];
  projects: readonly ProjectApproval[];
  datasets: readonly DatasetDefinition[];
  /** The agent's DMZ connection (INBOX, OUTBOX) and controlled-account connection (state, airlock, audit). */
  dmz: NatsConnection;
  ctrl: NatsConnection;
  executors: readonly Executor[];
  credentials: CredentialIssuer;
  /** Reviewers (data owners) whose signed decisions release outputs. */
  reviewers?: readonly { name: string; publicKey: string }[];
  /** The TRE's disclosure rules. Default `DEFAULT_DISCLOSURE_RULES`. */
  disclosure?: DisclosureRules;
  /** Review policy. Default: one approval, no auto-release, no notifier. */
  review?: ReviewPolicy;
  /** Wall-clock budget of one task's execution, in ms. Default 600 000 (10 minutes). */
  taskTimeoutMs?: number;
  /** Tasks executing at once. Default 2: the TRE's database is shared with its own users. */
  maxConcurrentTasks?: number;
  /**
   * Runs a task may have here, counting the first: a run interrupted by an agent restart, or ended by a retryable
   * executor failure, is tried again until then. Default `LEAF_DEFAULTS.maxTaskAttempts` (3).
   */
  maxTaskAttempts?: number;
  /** Wait before the second run after a retryable failure, in ms, doubled for each later one. Default 5 000. */
  retryBackoffMs?: number;
  /**
   * How long a task's progress (received, accepted, running) waits to be announced with its next step, in ms.
   * Default `LEAF_DEFAULTS.progressDelayMs`.
   */
  progressDelayMs?: number;
  /**
   * Days an ended task's records are kept after its last step (task-retention.ts): at least
   * `MIN_TASK_RETENTION_DAYS`. Default `LEAF_DEFAULTS.taskRetentionDays`.
   */
  taskRetentionDays?: number;
  /** Durable consumer name on INBOX. Default "agent". */
  durable?: string;
  onEvent?: (e: AgentEvent) => void;
  now?: () => number;
}

export class Agent {
  readonly #opts: AgentOptions;
  readonly #state: AgentState;
  readonly #airlock: Airlock;
  readonly #store: AirlockStore;
  #airlockService: AirlockService | undefined;
  readonly #transitions: TaskTransitions;
  readonly #audit: AuditLog;
  readonly #ctrlJs: JetStreamClient;
  readonly #hubTrust: TrustStore;
  readonly #admission: AdmissionConfig;
  readonly #running = new Map<string, AbortController>();
  readonly #work = new Set<Promise<void>>();
  readonly #stopping = new AbortController();
  readonly #slots: Slots;
  readonly #execution: ExecutionContext;
  #intake: SignedConsumer | undefined;
  #retentionSweeps: NodeJS.Timeout | undefined;

  private constructor(opts: AgentOptions, state: AgentState, airlock: AirlockStore) {
    this.#opts = opts;
    this.#state = state;
    this.#store = airlock;
    this.#ctrlJs = jetstream(opts.ctrl);
    this.#audit = new AuditLog(this.#ctrlJs, { scope: opts.tre });
    this.#transitions = new TaskTransitions({
      state,
      status: new StatusPublisher(jetstream(opts.dmz), opts.tre, opts.treKey),
      audit: this.#audit,
      onTransition: (taskId, s, reason) =>
        this.#emit({ type: "task", taskId, state: s, ...(reason ? { reason } : {}) }),
      progressDelayMs: opts.progressDelayMs ?? LEAF_DEFAULTS.progressDelayMs,
      onError: (taskId, error) => this.#emit({ type: "error", taskId, error }),
      now: () => this.#now(),
    });
    this.#airlock = new Airlock({
      tre: opts.tre,
      treKey: opts.treKey,
      dmz: opts.dmz,
      ctrl: opts.ctrl,
      store: airlock,
      state,
      audit: this.#audit,
      announcements: this.#transitions,
      reviewers: opts.reviewers ?? [],
      rules: opts.disclosure ?? DEFAULT_DISCLOSURE_RULES,
      policy: opts.review ?? { approvalsRequired: 1, autoRelease: false },
      onEvent: (event) => this.#emit({ type: "airlock", event }),
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.#hubTrust = new TrustStore().add({ publicKey: opts.hubKeys.publicKey, role: "hub", name: "hub" });
    if (opts.hubKeys.nextPublicKey !== undefined)
      this.#hubTrust.add({ publicKey: opts.hubKeys.nextPublicKey, role: "hub", name: "hub (next key)" });
    const researchers = new TrustStore();
    for (const r of opts.researchers)
      researchers.add({ publicKey: r.publicKey, role: "researcher", name: r.name });
    this.#admission = {
      tre: opts.tre,
      researchers,
      projects: opts.projects,
      datasets: opts.datasets,
      executors: opts.executors,
    };
    this.#slots = new Slots(opts.maxConcurrentTasks ?? LEAF_DEFAULTS.maxConcurrentTasks);
    this.#execution = {
      datasets: opts.datasets,
      credentials: opts.credentials,
      timeoutMs: opts.taskTimeoutMs ?? LEAF_DEFAULTS.taskTimeoutMs,
      maxAttempts: opts.maxTaskAttempts ?? LEAF_DEFAULTS.maxTaskAttempts,
      retryBackoffMs: opts.retryBackoffMs ?? LEAF_DEFAULTS.retryBackoffMs,
      airlock: this.#airlock,
      audit: this.#audit,
      record: (taskId, state, reason, allowed, mend) =>
        this.#transitions.record(taskId, state, reason, allowed, mend),
      onError: (taskId, error) => this.#emit({ type: "error", taskId, error }),
      onImageMissing: (taskId, project, image) =>
        this.#emit({ type: "image-missing", taskId, project, image }),
    };
  }

  /** Opens the agent's state, recovers what a previous run left unfinished, and starts consuming INBOX. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const ctrlJs = jetstream(opts.ctrl);
    const agent = new Agent(opts, await AgentState.open(ctrlJs), await AirlockStore.open(ctrlJs));
    await cleanUpExecutors(
      opts.executors,
      agent.#audit,
      (executor, removed) => agent.#emit({ type: "cleaned", executor, removed }),
      (_executor, error) => agent.#emit({ type: "error", error }),
    );
    // One pass over every task record serves both recoveries: the tasks caught on the way, and those awaiting review.
    const records = await agent.#state.all();
    await recoverTasks({
      state: agent.#state,
      records,
      transitions: agent.#transitions,
      maxAttempts: agent.#execution.maxAttempts,
      reopen: (task) => agent.#reopen(task),
      discardAttempt: (taskId, attempt) => agent.#airlock.discardAttempt(taskId, attempt),
      finishBuilt: (taskId, attempt) => agent.#airlock.finishBuilt(taskId, attempt),
      resume: (dispatch, retry) => agent.#startTask(dispatch, { retry }),
      onRecovered: (taskId, state) => agent.#emit({ type: "recovered", taskId, state }),
      now: () => agent.#now(),
    });
    await agent.#airlock.recover(records);
    agent.#airlockService = await AirlockService.start(opts.ctrl, agent.#airlock, (error) =>
      agent.#emit({ type: "error", error }),
    );
    const dmzJs = jetstream(opts.dmz);
    agent.#intake = await consumeSigned({
      js: dmzJs,
      jsm: await dmzJs.jetstreamManager(),
      stream: streams.inbox,
      durable: opts.durable ?? AGENT,
      maxMessages: 64,
      handle: (m) => agent.#handle(m),
      refuser: {
        js: agent.#ctrlJs,
        scope: opts.tre,
        actor: AGENT,
        audit: agent.#audit,
        onRefused: (e) => agent.#emit(e),
      },
      // Our own failure (state store unavailable…): try again later rather than lose the task.
      retryMessageAfterMs: 2_000,
      onError: (error) => agent.#emit({ type: "error", error }),
    });
    // Ended tasks past their retention go with the records this start read, and again every sweep interval.
    agent.#forgetEnded(records);
    agent.#retentionSweeps = setInterval(
      () => void agent.#state.all().then((all) => agent.#forgetEnded(all), agent.#reportError),
      LEAF_DEFAULTS.retentionSweepIntervalMs,
    );
    agent.#retentionSweeps.unref();
    return agent;
  }

  /** Forgets the ended tasks of `records` past their retention, in the background (`stop` waits for it). */
  #forgetEnded(records: readonly AgentTask[]): void {
    if (this.#stopping.signal.aborted) return;
    const sweep = forgetEndedTasks(records, {
      state: this.#state,
      store: this.#store,
      audit: this.#audit,
      keepMs: (this.#opts.taskRetentionDays ?? LEAF_DEFAULTS.taskRetentionDays) * DAY_MS,
      now: this.#now(),
      signal: this.#stopping.signal,
    }).then((gone) => {
      if (gone.length > 0) this.#emit({ type: "forgotten", tasks: gone.length });
    }, this.#reportError);
    this.#work.add(sweep);
    void sweep.finally(() => this.#work.delete(sweep));
  }

  readonly #reportError = (e: unknown) => this.#emit({ type: "error", error: asError(e) });

  /** Tasks executing now (reported in heartbeats). */
  get running(): number {
    return this.#running.size;
  }

  /** Stops taking tasks and waits for running ones to finish (they are not aborted). */
  async stop(): Promise<void> {
    this.#stopping.abort(); // no task waiting out a back-off starts its next run now; the next start runs it
    clearInterval(this.#retentionSweeps);
    this.#airlock.stop();
    await this.#airlockService?.stop().catch(() => undefined);
    await this.#intake?.stop();
    await Promise.allSettled(this.#work);
    await this.#transitions.announceWaiting();
  }

  #emit(e: AgentEvent): void {
    this.#opts.onEvent?.(e);
  }

  #now(): number {
    return (this.#opts.now ?? Date.now)();
  }

  /** One INBOX message: a Dispatch or a Cancel of this TRE's, or the refusal to dead-letter it with. */
  async #handle(m: JsMsg): Promise<Refusal | undefined> {
    const where = parseTreSubject(m.subject);
    if (where?.direction !== "in" || where.tre !== this.#opts.tre) {
      return refusal(DeadLetterCode.wrongSubject, `not a task subject of TRE ${this.#opts.tre}`);
    }
    return match(where)
      .with({ kind: "dispatch" }, (w) => this.#onDispatch(m, w))
      .with({ kind: "cancel" }, (w) => this.#onCancel(m, w))
      .exhaustive();
  }

  async #onDispatch(m: JsMsg, where: TaskSubject & { kind: "dispatch" }): Promise<Refusal | undefined> {
    // Expired dispatches are opened anyway, to tell the researcher why their task did not run here.
    const opened = await openTaskMessage(where, m.subject, m.data, {
      trust: this.#hubTrust,
      allowExpired: true,
      now: this.#now(),
    });
    if (!opened.ok) {
      if (opened.error.code === DeadLetterCode.unknownSigner) await this.#refuseUnpinned(m, where);
      return this.#fromHub(opened.error);
    }
    const dispatch = opened.value.body;
    const taskId = dispatch.taskId;
    const at = this.#now();
    // The claim records every step the agent can take at once: the Dispatch received, the TRE's approvals checked
    // (a check of the Dispatch against this run's config), and `running` when a slot is free, so that a
    // restart knows the run may have started. They are announced together, as one StatusEvent.
    const admitted = await admit(dispatch, this.#admission, at);
    const steps: AgentTaskEvent[] = [{ state: "received", at, actor: AGENT, reason: RECEIVED }];
    let run: AbortController | undefined;
    if (!admitted.ok) {
      steps.push({
        state: "rejected",
        at,
        actor: AGENT,
        reason: admitted.reason,
        ...(admitted.mend ? { mend: admitted.mend } : {}),
      });
    } else {
      steps.push({ state: "accepted", at, actor: AGENT, reason: acceptedReason(admitted) });
      // A Dispatch of a task running here already is a redelivery: its claim fails below.
      if (!this.#running.has(taskId) && this.#slots.tryAcquire()) {
        run = new AbortController();
        this.#running.set(taskId, run); // before the record says `running`: a Cancel then stops this run
        steps.push({ state: "running", at, actor: AGENT });
      }
    }
    const giveBack = () => {
      if (!run) return;
      this.#running.delete(taskId);
      this.#slots.release();
    };
    const claimed = await this.#state
      .claim({
        taskId,
        state: steps.at(-1)!.state,
        dispatch: Buffer.from(m.data).toString("base64"),
        history: steps,
      })
      .catch((error: unknown) => {
        giveBack();
        throw error;
      });
    if (!claimed) {
      giveBack();
      // Seen before: a task never runs twice. A redelivery of this message is nothing new; a Dispatch stored
      // again (a replay, or one its Cancel overtook) is refused on the record.
      if (m.redelivered) return undefined;
      const known = (await this.#state.get(taskId))?.state ?? "known";
      return refusal(DeadLetterCode.replayed, `task ${taskId} is already ${known} here`, "taskId");
    }
    // Nothing runs before its steps are audited (a run always has its `task.running` record). Should that fail,
    // the task waits, claimed, for the agent's next start, which resumes it (agent-recovery.ts).
    await this.#transitions.announceClaim(taskId, steps).catch((error: unknown) => {
      giveBack();
      throw error;
    });
    if (admitted.ok) this.#startTask(dispatch, { admitted, run });
    return undefined;
  }

  /**
   * A Dispatch no pinned hub key signed, but another key did: the task is claimed as `rejected` and the
   * refusal announced to the hub, naming both keys, once per task (hub-key-refusal.ts). The message itself is
   * dead-lettered as before.
   */
  async #refuseUnpinned(m: JsMsg, where: TaskSubject & { kind: "dispatch" }): Promise<void> {
    const at = this.#now();
    const signer = await unpinnedSigner(where, m.subject, m.data, at);
    if (signer === undefined) return;
    const keys = { pinned: this.#opts.hubKeys.publicKey, signer };
    const step: AgentTaskEvent = {
      state: "rejected",
      at,
      actor: AGENT,
      reason: unpinnedReason(signer, this.#opts.hubKeys),
      mend: "tre",
    };
    // No Dispatch kept: nothing of it is trusted, and the task never runs here.
    if (!(await this.#state.claim({ taskId: where.taskId, state: "rejected", history: [step] }))) return;
    await this.#transitions.announceClaim(where.taskId, [{ ...step, unpinnedHubKey: keys }]);
  }

  /**
   * Runs the rest of a task's life without holding up the intake (a cancel must get through meanwhile): a task
   * whose claim took a slot and recorded `running` (`run`) starts at once; one `accepted` waits for a slot;
   * without `admitted`, a task resumed after a restart is admitted again with this run's config (`retry`: it is
   * `accepted` for its next attempt).
   */
  #startTask(
    dispatch: Dispatch,
    from: { admitted: AdmittedTask; run: AbortController | undefined } | { retry: boolean },
  ): void {
    const work = this.#runTask(dispatch, from).catch((e: unknown) => {
      this.#emit({
        type: "error",
        taskId: dispatch.taskId,
        error: asError(e),
      });
    });
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  async #runTask(
    dispatch: Dispatch,
    from: { admitted: AdmittedTask; run: AbortController | undefined } | { retry: boolean },
  ): Promise<void> {
    const taskId = dispatch.taskId;
    let admitted: AdmittedTask;
    if ("admitted" in from) {
      admitted = from.admitted;
      if (from.run) {
        const started = from.run;
        let end: RunEnd;
        try {
          end = await this.#execute(taskId, admitted, started);
        } finally {
          this.#slots.release();
        }
        if (end.retryInMs === undefined || !(await this.#backOff(end.retryInMs))) return;
      }
    } else {
      // A resumed task is admitted again, with the config of this run; a retry's `accepted` is recorded already.
      const again = await admit(dispatch, this.#admission, this.#now());
      if (!again.ok)
        return void (await this.#transitions.record(taskId, "rejected", again.reason, undefined, again.mend));
      admitted = again;
      if (!from.retry && !(await this.#transitions.record(taskId, "accepted", acceptedReason(admitted))))
        return;
    }
    for (;;) {
      const end = await this.#slots.run(() => this.#execute(taskId, admitted));
      if (end.retryInMs === undefined) return;
      // The back-off waits outside a slot. A cancel meanwhile ends the `accepted` task; the next run then stops.
      // An agent stopping meanwhile leaves the task `accepted`, which its next start runs (agent-recovery.ts).
      if (!(await this.#backOff(end.retryInMs))) return;
    }
  }

  /** Waits `ms`; false when the agent began to stop meanwhile. */
  #backOff(ms: number): Promise<boolean> {
    const stopping = this.#stopping.signal;
    return new Promise((resolve) => {
      if (stopping.aborted) return resolve(false);
      const done = () => {
        clearTimeout(timer);
        resolve(!stopping.aborted);
      };
      const timer = setTimeout(done, ms);
      stopping.addEventListener("abort", done, { once: true });
    });
  }

  /** One run of the task; `started` when its claim recorded `running` already, with the run's controller. */
  async #execute(taskId: string, admitted: AdmittedTask, started?: AbortController): Promise<RunEnd> {
    const abort = started ?? new AbortController();
    this.#running.set(taskId, abort);
    try {
      return await executeTask(this.#execution, taskId, admitted, abort.signal, {
        recorded: started !== undefined,
      });
    } finally {
      this.#running.delete(taskId);
    }
  }

  async #onCancel(m: JsMsg, where: TaskSubject & { kind: "cancel" }): Promise<Refusal | undefined> {
    const opened = await openTaskMessage(where, m.subject, m.data, {
      trust: this.#hubTrust,
      now: this.#now(),
    });
    if (!opened.ok) return this.#fromHub(opened.error);
    const { taskId, reason } = opened.value.body;
    return applyCancel(
      { state: this.#state, transitions: this.#transitions, running: this.#running, now: () => this.#now() },
      taskId,
      `cancel requested: ${reason}`,
      m.redelivered,
    );
  }

  /**
   * An INBOX message's refusal, saying what to do when its signer is not a pinned hub key: after the federation
   * changes its hub key, every task is refused here until leaf.yaml pins the new one (as `hub.nextPublicKey` while
   * the change-over lasts).
   */
  #fromHub(error: Refusal): Refusal {
    if (error.code !== DeadLetterCode.unknownSigner) return error;
    const { publicKey, nextPublicKey } = this.#opts.hubKeys;
    const pinned = [`hub.publicKey ${publicKey.slice(0, 8)}…`];
    if (nextPublicKey !== undefined) pinned.push(`hub.nextPublicKey ${nextPublicKey.slice(0, 8)}…`);
    return refusal(
      error.code,
      `${error.message}: not ${pinned.length === 1 ? "the hub key" : "either hub key"} leaf.yaml pins (${pinned.join(", ")}); ` +
        "if the federation is changing or changed its hub key, pin the new one as hub.nextPublicKey and restart the leaf",
      error.field,
    );
  }

  #reopen(task: AgentTask): Dispatch | undefined {
    const opened = openEnvelope(Buffer.from(task.dispatch ?? "", "base64"), {
      trust: this.#hubTrust,
      expect: "dispatch",
      tre: this.#opts.tre,
      allowExpired: true,
    });
    return opened.ok ? opened.value.body : undefined;
  }
}
