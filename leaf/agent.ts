/**
 * The TRE agent: takes tasks from INBOX, trusts nothing the hub says without checking, and runs each
 * approved task at most once.
 *
 * For every Dispatch: verify it against the pinned hub key and this TRE's name; verify the researcher's
 * own signature on the Submission inside, with the researcher keys this TRE knows; re-check the TRE's own
 * approvals (leaf.yaml); record `running` before the executor starts; inject a per-task credential from the
 * broker and revoke it when the task ends; hold the outputs in the airlock. Every transition is a
 * TRE-signed StatusEvent in OUTBOX and a record in the TRE's own audit log. A message that fails
 * verification goes to the TRE's dead letters with its reason.
 *
 * At most once: a task is claimed by creating its record in the controlled account, and the Dispatch
 * message is acknowledged only after that. A redelivered Dispatch finds the record; an agent restarted
 * mid-task finds `running` and ends the task as `executor_error` instead of running it again.
 */
import { type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { match } from "ts-pattern";
import { AuditLog, auditLimits, consumeSigned, type SignedConsumer, Slots } from "../common/index.js";
import {
  type DatasetDefinition,
  type Executor,
  ExecutorCancelled,
  type ExecutorCredential,
  type ExecutorOutput,
  isExecutorError,
} from "../executors/index.js";
import {
  type ChildState,
  DeadLetterCode,
  type Dispatch,
  isChildStep,
  isSettled,
  openEnvelope,
  openTaskMessage,
  parseTreSubject,
  type Refusal,
  refusal,
  type SigningKey,
  type Submission,
  streams,
  type TaskSubject,
  TrustStore,
} from "../protocol/index.js";
import { AgentState, type AgentTask } from "./agent-state.js";
import { Airlock, type AirlockEvent, type ReviewPolicy } from "./airlock.js";
import { AirlockService } from "./airlock-service.js";
import { AirlockStore } from "./airlock-store.js";
import { DEFAULT_DISCLOSURE_RULES, type DisclosureRules } from "./disclosure-rules.js";
import type { ProjectApproval } from "./leaf-config.js";
import { datasetsOf } from "./policy.js";
import { StatusPublisher } from "./status-publisher.js";
import { type AdmissionConfig, admit } from "./task-admission.js";

/** A per-task credential from the broker, and how to revoke it. */
export interface CredentialGrant {
  credential: ExecutorCredential;
  release(): Promise<void>;
}

/** The credential broker as the agent uses it (leaf/credential-broker.ts implements it for PostgreSQL). */
export interface CredentialIssuer {
  issue(taskId: string, datasets: readonly DatasetDefinition[], timeoutMs: number): Promise<CredentialGrant>;
}

export type AgentEvent =
  | { type: "task"; taskId: string; state: ChildState; reason?: string }
  | { type: "refused"; subject: string; code: string; reason: string }
  | { type: "recovered"; taskId: string; state: ChildState }
  | { type: "cleaned"; executor: string; removed: number }
  | { type: "airlock"; event: AirlockEvent }
  | { type: "error"; taskId?: string; error: Error };

export interface AgentOptions {
  tre: string;
  treKey: SigningKey;
  /** The hub's signing key, pinned in leaf.yaml: the only key Dispatches and Cancels are accepted from. */
  hubPublicKey: string;
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
  /** Durable consumer name on INBOX. Default "agent". */
  durable?: string;
  onEvent?: (e: AgentEvent) => void;
  now?: () => number;
}

const AGENT = "agent";

export class Agent {
  readonly #opts: AgentOptions;
  readonly #state: AgentState;
  readonly #airlock: Airlock;
  #airlockService: AirlockService | undefined;
  readonly #status: StatusPublisher;
  readonly #audit: AuditLog;
  readonly #ctrlJs: JetStreamClient;
  readonly #hubTrust: TrustStore;
  readonly #admission: AdmissionConfig;
  readonly #running = new Map<string, AbortController>();
  readonly #work = new Set<Promise<void>>();
  readonly #slots: Slots;
  #intake: SignedConsumer | undefined;

  private constructor(opts: AgentOptions, state: AgentState, airlock: AirlockStore) {
    this.#opts = opts;
    this.#state = state;
    this.#ctrlJs = jetstream(opts.ctrl);
    this.#status = new StatusPublisher(jetstream(opts.dmz), opts.tre, opts.treKey);
    this.#audit = new AuditLog(this.#ctrlJs, { scope: opts.tre });
    this.#airlock = new Airlock({
      tre: opts.tre,
      treKey: opts.treKey,
      dmz: opts.dmz,
      ctrl: opts.ctrl,
      store: airlock,
      state,
      audit: this.#audit,
      announce: (taskId, s, reason, at) => this.#announce(taskId, s, reason, at, "airlock"),
      reviewers: opts.reviewers ?? [],
      rules: opts.disclosure ?? DEFAULT_DISCLOSURE_RULES,
      policy: opts.review ?? { approvalsRequired: 1, autoRelease: false },
      onEvent: (event) => this.#emit({ type: "airlock", event }),
      ...(opts.now ? { now: opts.now } : {}),
    });
    this.#hubTrust = new TrustStore().add({ publicKey: opts.hubPublicKey, role: "hub", name: "hub" });
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
    this.#slots = new Slots(opts.maxConcurrentTasks ?? 2);
  }

  /** Opens the agent's state, recovers what a previous run left unfinished, and starts consuming INBOX. */
  static async start(opts: AgentOptions): Promise<Agent> {
    const ctrlJs = jetstream(opts.ctrl);
    const agent = new Agent(opts, await AgentState.open(ctrlJs), await AirlockStore.open(ctrlJs));
    await agent.#cleanUpExecutors();
    await agent.#recover();
    await agent.#airlock.recover();
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
    return agent;
  }

  /** Tasks executing now (reported in heartbeats). */
  get running(): number {
    return this.#running.size;
  }

  /** Stops taking tasks and waits for running ones to finish (they are not aborted). */
  async stop(): Promise<void> {
    await this.#airlockService?.stop().catch(() => undefined);
    await this.#intake?.stop();
    await Promise.allSettled(this.#work);
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

  /** Records and announces one transition. */
  async #record(
    taskId: string,
    state: ChildState,
    reason?: string,
    allowed = (s: ChildState) => !isSettled(s),
  ) {
    const at = this.#now();
    const next = await this.#state.transition(
      taskId,
      { state, at, actor: AGENT, ...(reason ? { reason } : {}) },
      allowed,
    );
    if (!next) return undefined;
    await this.#announce(taskId, state, reason, at);
    return next;
  }

  async #announce(
    taskId: string,
    state: ChildState,
    reason: string | undefined,
    at: number,
    actor = AGENT,
  ): Promise<void> {
    await this.#status.publish(taskId, state, actor, reason, at);
    await this.#audit.append({
      actor,
      action: `task.${state}`,
      taskId,
      ...(reason ? { details: { reason: reason.slice(0, auditLimits.detailStringChars) } } : {}),
    });
    this.#emit({ type: "task", taskId, state, ...(reason ? { reason } : {}) });
  }

  async #onDispatch(m: JsMsg, where: TaskSubject & { kind: "dispatch" }): Promise<Refusal | undefined> {
    // Expired dispatches are opened anyway, to tell the researcher why their task did not run here.
    const opened = openTaskMessage(where, m.subject, m.data, {
      trust: this.#hubTrust,
      allowExpired: true,
      now: this.#now(),
    });
    if (!opened.ok) return opened.error;
    const dispatch = opened.value.body;
    const at = this.#now();
    const claimed = await this.#state.claim({
      taskId: dispatch.taskId,
      state: "received",
      dispatch: Buffer.from(m.data).toString("base64"),
      history: [
        { state: "received", at, actor: AGENT, reason: "dispatch verified against the pinned hub key" },
      ],
    });
    if (!claimed) {
      // Seen before: a task never runs twice. A redelivery of this message is nothing new; a Dispatch stored
      // again (a replay, or one its Cancel overtook) is refused on the record.
      if (m.redelivered) return undefined;
      const known = (await this.#state.get(dispatch.taskId))?.state ?? "known";
      return refusal(DeadLetterCode.replayed, `task ${dispatch.taskId} is already ${known} here`, "taskId");
    }
    await this.#announce(dispatch.taskId, "received", "dispatch verified against the pinned hub key", at);
    this.#startTask(dispatch);
    return undefined;
  }

  /** Runs the rest of a task's life without holding up the intake (a cancel must get through meanwhile). */
  #startTask(dispatch: Dispatch): void {
    const work = this.#runTask(dispatch).catch((e: unknown) => {
      this.#emit({
        type: "error",
        taskId: dispatch.taskId,
        error: e instanceof Error ? e : new Error(String(e)),
      });
    });
    this.#work.add(work);
    void work.finally(() => this.#work.delete(work));
  }

  async #runTask(dispatch: Dispatch): Promise<void> {
    const taskId = dispatch.taskId;
    const admitted = admit(dispatch, this.#admission, this.#now());
    if (!admitted.ok) return void (await this.#record(taskId, "rejected", admitted.reason));
    const { submission, researcher, executor } = admitted;
    if (!(await this.#record(taskId, "accepted", `approved by this TRE for project ${submission.project}`)))
      return;
    await this.#slots.run(() => this.#execute(taskId, submission, researcher, executor));
  }

  async #execute(
    taskId: string,
    submission: Submission,
    researcher: string,
    executor: Executor,
  ): Promise<void> {
    const abort = new AbortController();
    this.#running.set(taskId, abort);
    try {
      // `running` is recorded before anything runs: this is the at-most-once line.
      if (!(await this.#record(taskId, "running", undefined, (s) => s === "accepted"))) return;
      const names = new Set(datasetsOf(submission.analysis));
      const datasets = this.#opts.datasets.filter((d) => names.has(d.name));
      const timeoutMs = this.#opts.taskTimeoutMs ?? 600_000;
      let outputs: ExecutorOutput[];
      const grant = await this.#opts.credentials.issue(taskId, datasets, timeoutMs);
      try {
        const record = (action: string, details: Record<string, string | number | boolean>) =>
          void this.#audit
            .append({ actor: "executor", action, taskId, details })
            .catch((e: unknown) =>
              this.#emit({ type: "error", taskId, error: e instanceof Error ? e : new Error(String(e)) }),
            );
        outputs = await executor.run(
          {
            taskId,
            analysis: submission.analysis,
            datasets,
            credential: grant.credential,
            timeoutMs,
            record,
          },
          { signal: abort.signal },
        );
      } finally {
        await grant.release();
      }
      const held = await this.#airlock.hold(
        {
          taskId,
          project: submission.project,
          researcher,
          kind: submission.analysis.kind,
          ...(submission.title ? { title: submission.title } : {}),
        },
        outputs,
      );
      const failing = held.filter((h) => h.outcome !== "pass").length;
      const pending = await this.#record(
        taskId,
        "outputs_pending_review",
        `${held.length} output(s) held in the airlock for review; ${failing} flagged by the disclosure checks`,
        (s) => s === "running",
      );
      if (pending) await this.#airlock.afterHeld(taskId);
    } catch (e) {
      if (e instanceof ExecutorCancelled) {
        await this.#record(taskId, "cancelled", "cancelled while running; nothing was kept");
      } else if (isExecutorError(e)) {
        // Executor messages never carry data values (see executors/errors.ts).
        await this.#record(taskId, "executor_error", e.message);
      } else {
        // Anything else (the broker, the airlock) is reported without its text, which may name internals.
        await this.#record(
          taskId,
          "executor_error",
          "the task failed inside the TRE; the TRE's operators have the details",
        );
        throw e;
      }
    } finally {
      this.#running.delete(taskId);
    }
  }

  async #onCancel(m: JsMsg, where: TaskSubject & { kind: "cancel" }): Promise<Refusal | undefined> {
    const opened = openTaskMessage(where, m.subject, m.data, { trust: this.#hubTrust, now: this.#now() });
    if (!opened.ok) return opened.error;
    const { taskId, reason } = opened.value.body;
    const why = `cancel requested: ${reason}`;
    const existing = await this.#state.get(taskId);
    if (!existing) {
      // The cancel overtook its dispatch: record the task as cancelled so the dispatch never runs it.
      const at = this.#now();
      const claimed = await this.#state.claim({
        taskId,
        state: "cancelled",
        history: [{ state: "cancelled", at, actor: AGENT, reason: why }],
      });
      if (claimed) await this.#announce(taskId, "cancelled", why, at);
      return undefined;
    }
    const running = this.#running.get(taskId);
    if (running && existing.state === "running") {
      running.abort(); // the executor stops and the task records `cancelled`
      return undefined;
    }
    // A running task is cancelled through its executor (above); from any other state it may leave, at once.
    const cancelled = await this.#record(
      taskId,
      "cancelled",
      why,
      (s) => s !== "running" && isChildStep(s, "cancelled"),
    );
    // A Cancel that changes nothing (the task ended here, or was cancelled already) is refused on the record.
    if (!cancelled && !m.redelivered) {
      return refusal(
        DeadLetterCode.alreadyEnded,
        `task ${taskId} is ${existing.state} here; the cancel changes nothing`,
      );
    }
    return undefined;
  }

  /** Before any task runs: what a crashed run of an executor left (containers, scratch) goes. */
  async #cleanUpExecutors(): Promise<void> {
    for (const executor of this.#opts.executors) {
      if (!executor.cleanUp) continue;
      const removed = await executor.cleanUp();
      this.#emit({ type: "cleaned", executor: executor.kinds.join(","), removed });
      if (removed > 0)
        await this.#audit.append({ actor: AGENT, action: "executor.cleaned", details: { removed } });
    }
  }

  /** After a restart: a task caught `running` is ended, never run again; one caught before that continues. */
  async #recover(): Promise<void> {
    for (const task of await this.#state.unsettled()) {
      if (task.state === "running") {
        await this.#record(
          task.taskId,
          "executor_error",
          "the agent restarted while this task ran; it is not run again",
        );
        this.#emit({ type: "recovered", taskId: task.taskId, state: "executor_error" });
      } else if (task.dispatch) {
        const dispatch = this.#reopen(task);
        if (!dispatch) {
          await this.#record(task.taskId, "rejected", "the stored dispatch no longer verifies");
          continue;
        }
        if (task.state === "accepted") {
          // Back to the decision point: approvals are checked again with the config of this run.
          await this.#state.transition(
            task.taskId,
            { state: "received", at: this.#now(), actor: AGENT, reason: "re-checked after an agent restart" },
            (s) => s === "accepted",
          );
        }
        this.#emit({ type: "recovered", taskId: task.taskId, state: task.state });
        this.#startTask(dispatch);
      }
    }
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
