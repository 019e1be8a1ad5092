/**
 * The airlock (Safe Outputs): everything between an executor's outputs and the one message that may leave
 * the TRE.
 *
 * 1. `hold`: each output is checked against the TRE's disclosure rules (pass / review / fail with findings
 *    per cell), stored with its releasable form (failing cells withheld, counts rounded), and recorded in
 *    the TRE's audit chain.
 * 2. `afterHeld`: reviewers are told (an event on the controlled account, plus the operator's command or
 *    webhook); with auto-release on, outputs that passed every check are approved by the TRE itself.
 * 3. `decide`: a reviewer's signed Decision is checked (a reviewer of this TRE, the right digest, not final
 *    yet) and recorded compare-and-set; see airlock-decision.ts for the rules.
 * 4. When every output of a task is decided, the TRE signs one Release (airlock-release.ts), stores it, moves
 *    the task to released / withheld / partially_released, and only then writes the Release to OUTBOX.
 *
 * Reviewers read what is held through airlock-review.ts; their requests arrive through airlock-service.ts.
 *
 * Released at most once: the Release is created once in the store (`createEgress`) and published with a
 * message id per TRE and task; after a crash, `recover` finishes what was left.
 */
import { type JetStreamClient, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type AuditLog, auditLimits } from "../audit/index.js";
import { asError, type SignedRoute, signedRoute } from "../common/index.js";
import type { ExecutorOutput } from "../executors/index.js";
import {
  AirlockErrorCode,
  type AirlockReply,
  type Decision,
  isReleaseOutcome,
  newId,
  type SigningKey,
  sealEnvelope,
  subjects,
  TrustStore,
  type VerifiedOf,
} from "../protocol/index.js";
import { type AgentState, type AgentTask, type AgentTaskEvent, attemptOf } from "./agent-state.js";
import { applyDecision, type DecisionContext } from "./airlock-decision.js";
import { AUTO_RELEASE, buildRelease } from "./airlock-release.js";
import { AirlockReview, outputView } from "./airlock-review.js";
import type {
  AirlockStore,
  EgressOutcome,
  EgressRecord,
  HeldOutput,
  HeldRecords,
  HeldTask,
  StoredOutput,
} from "./airlock-store.js";
import type { DisclosureRules } from "./disclosure-rules.js";
import { toHeldOutput } from "./held-output.js";
import { notifyReviewers, type ReviewNotice, type ReviewNotifyOptions } from "./review-notifier.js";
import type { HeldStatus } from "./status-publisher.js";
import { AGENT_ACTOR, type ReleaseAnnouncements } from "./task-transitions.js";

export interface ReviewPolicy {
  /** Approvals of the same bytes by different reviewers that release an output: 1, or 2 for the two-reviewer rule. */
  approvalsRequired: number;
  /** Release outputs that pass every check without a human. Default off: only the demo and benchmarks turn it on. */
  autoRelease: boolean;
  notify?: ReviewNotifyOptions;
}

export type AirlockEvent =
  | { type: "held"; taskId: string; outcomes: string[] }
  | { type: "decided"; taskId: string; outputId: string; reviewer: string; verdict: string; state: string }
  | { type: "released"; taskId: string; outcome: EgressOutcome }
  | { type: "refused"; request: "query" | "decide"; code: string; reason: string }
  | { type: "notify-failed"; taskId: string; error: Error }
  | { type: "send-failed"; taskId: string; error: Error; retryInMs: number };

export interface AirlockOptions {
  tre: string;
  treKey: SigningKey;
  dmz: NatsConnection;
  ctrl: NatsConnection;
  store: AirlockStore;
  state: AgentState;
  audit: AuditLog;
  /**
   * The task's announcements (the agent's `TaskTransitions`): the steps not announced yet, which the Release carries;
   * sending it in order with the task's StatusEvents; and recording the steps it announced in the TRE's audit log.
   */
  announcements: ReleaseAnnouncements;
  reviewers: readonly { name: string; publicKey: string }[];
  rules: DisclosureRules;
  policy: ReviewPolicy;
  onEvent?: (e: AirlockEvent) => void;
  now?: () => number;
  /**
   * The wait before a Release OUTBOX did not take is put there again, ms, doubled after each failure up to a minute.
   * Default 1 000.
   */
  resendAfterMs?: number;
}

const DECISION_LIFETIME_MS = 30 * 86_400_000;
/** The longest wait between two tries at putting a Release in OUTBOX. */
const RESEND_MAX_MS = 60_000;

/** A decision as the audit chain records it: the digest it signs (under `digestKey`) and its reason, cut to the chain's limit. */
const decisionDetails = (d: Decision, digestKey = "digest") => ({
  [digestKey]: d.outputDigest,
  ...(d.reason ? { reason: d.reason.slice(0, auditLimits.detailStringChars) } : {}),
});

/** The reason of a task's `outputs_pending_review`: how many outputs it holds, how many the checks flagged. */
export function heldReason(outputs: readonly Pick<HeldOutput, "outcome">[]): string {
  const failing = outputs.filter((o) => o.outcome !== "pass").length;
  return `${outputs.length} output(s) held in the airlock for review; ${failing} flagged by the disclosure checks`;
}

/** Who takes a task's step to its Release's outcome, as the task's record and the Release name them. */
const RELEASE_ACTOR = "airlock";

/** A held-back step as the task's record keeps it (the attempt absent for the first, as the record writes it). */
const taskEvent = ({ state, at, actor, reason, attempt }: HeldStatus): AgentTaskEvent => ({
  state,
  at,
  actor,
  ...(reason ? { reason } : {}),
  ...(attempt > 1 ? { attempt } : {}),
});

export class Airlock {
  readonly #o: AirlockOptions;
  readonly #reviewers = new TrustStore();
  readonly #dmzJs: JetStreamClient;
  readonly #completing = new Map<string, Promise<unknown>>();
  /** Releases OUTBOX did not take, each waiting for its next try: what is left of sending it, and the timer. */
  readonly #resends = new Map<string, { send: () => Promise<void>; timer: NodeJS.Timeout }>();
  #stopped = false;
  readonly #review: AirlockReview;
  readonly #queryRoute: SignedRoute<AirlockReply>;
  readonly #decideRoute: SignedRoute<AirlockReply>;

  constructor(options: AirlockOptions) {
    this.#o = options;
    for (const r of options.reviewers)
      this.#reviewers.add({ publicKey: r.publicKey, role: "reviewer", name: r.name, tre: options.tre });
    this.#dmzJs = jetstream(options.dmz);
    this.#review = new AirlockReview(
      options.store,
      options.state,
      options.policy.approvalsRequired,
      (code, message) => this.#refuse("query", code, message),
      { tre: options.tre, treKey: options.treKey.publicKey },
    );
    // A reviewer's request must be signed by one of this TRE's reviewers, for this TRE, and fresh.
    const open = () => ({ trust: this.#reviewers, tre: options.tre, now: this.#now() });
    this.#queryRoute = signedRoute({
      subject: subjects.airlockQuery,
      expect: "reviewQuery",
      open,
      refuse: (e) => this.#refuse("query", e.code, e.message),
      handle: async (q, _data, _checks, replyTo) => {
        const mismatch = this.#otherLogin(q.signer.name, replyTo);
        if (mismatch) return this.#refuse("query", AirlockErrorCode.unknownSigner, mismatch);
        const reply = await this.#review.query(q.body, q.signer.publicKey);
        if (reply.status === "ok" && reply.crate && q.body.taskId)
          await this.#o.audit.append({
            actor: `reviewer:${q.signer.name}`,
            action: "airlock.crate",
            taskId: q.body.taskId,
            details: { bytes: reply.crate.length },
          });
        // A `show` carries the outputs' bytes: each such view is recorded with the reviewer who asked.
        const task = reply.status === "ok" && q.body.what === "show" ? reply.tasks?.[0] : undefined;
        if (!task) return reply;
        for (const o of task.outputs) {
          await this.#o.audit.append({
            actor: `reviewer:${q.signer.name}`,
            action: "airlock.view",
            taskId: task.taskId,
            outputId: o.outputId,
            details: { digest: o.digest, state: o.state },
          });
        }
        return reply;
      },
    });
    this.#decideRoute = signedRoute({
      subject: subjects.airlockDecide,
      expect: "decision",
      open,
      refuse: (e) => this.#refuse("decide", e.code, e.message),
      handle: (decision, envelope, _checks, replyTo) => {
        const mismatch = this.#otherLogin(decision.signer.name, replyTo);
        if (mismatch)
          return Promise.resolve(this.#refuse("decide", AirlockErrorCode.unknownSigner, mismatch));
        return this.#decide(decision, envelope);
      },
    });
  }

  /** The review API's subjects, as `AirlockService` serves them. */
  routes(): SignedRoute<AirlockReply>[] {
    return [this.#queryRoute, this.#decideRoute];
  }

  /** A reviewer's signed ReviewQuery: the tasks awaiting review, or one task with its outputs' bytes. */
  query(data: Uint8Array): Promise<AirlockReply> {
    return this.#queryRoute.answer(data);
  }

  /** A reviewer's signed Decision: recorded if it is allowed, and the task finished when it was the last one. */
  decide(data: Uint8Array): Promise<AirlockReply> {
    return this.#decideRoute.answer(data);
  }

  /**
   * A request signed with one reviewer's key that came on another reviewer's login (its reply inbox is theirs): a
   * profile pointing at a colleague's seed would otherwise decide in the colleague's name, and count as their
   * approval under the two-reviewer rule. The key stays the authority; this catches the mix-up, in words.
   */
  #otherLogin(signer: string, replyTo: string | undefined): string | undefined {
    if (!replyTo || replyTo.startsWith(`${subjects.reviewerInbox(signer)}.`)) return undefined;
    const login = this.#o.reviewers.find((r) => replyTo.startsWith(`${subjects.reviewerInbox(r.name)}.`));
    if (!login) return undefined;
    return `signed with ${signer}'s key, but sent on ${login.name}'s login: each reviewer signs with their own key`;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }

  /**
   * Checks and stores a task's outputs; nothing is released here. With auto-release on, an output that passed every
   * check is stored already approved by the TRE (one write, one audit record), to be released once the task is
   * `outputs_pending_review` (`afterHeld`).
   */
  async hold(
    task: Omit<HeldTask, "outputIds" | "heldAt">,
    outputs: readonly ExecutorOutput[],
  ): Promise<HeldRecords> {
    const heldAt = this.#now();
    const checked = outputs.map((o) => toHeldOutput(o, this.#o.rules, heldAt));
    const approved = new Map<string, Decision>();
    // Each output audited once it is stored, while the task's record is written: every one in one go, the
    // batch the audit log sends together.
    const auditHeld = (outputs: readonly HeldOutput[]) =>
      Promise.all(
        outputs.map((h) => {
          const decision = approved.get(h.outputId);
          return this.#o.audit.append({
            actor: "airlock",
            action: "airlock.held",
            taskId: task.taskId,
            details: {
              outputId: h.outputId,
              name: h.name,
              digest: h.digest,
              outcome: h.outcome,
              findings: h.findings.length,
              // Approved at once by the TRE's auto-release policy: the decision is this record's, not one of its own.
              ...(decision
                ? {
                    decision: decision.verdict,
                    ...decisionDetails(decision, "decidedDigest"),
                    state: h.state,
                  }
                : {}),
            },
          });
        }),
      );
    const held = await this.#o.store.hold(
      { ...task, heldAt },
      checked,
      (o) => {
        const auto = this.#o.policy.autoRelease ? this.#autoDecision(o) : undefined;
        const applied = auto && applyDecision(o, auto.body, auto.ctx);
        if (!auto || !applied?.ok) return o;
        approved.set(o.outputId, auto.body);
        return applied.output;
      },
      auditHeld,
    );
    this.#o.onEvent?.({ type: "held", taskId: task.taskId, outcomes: held.outputs.map((h) => h.outcome) });
    for (const h of held.outputs)
      if (approved.has(h.outputId)) this.#decided(h.taskId, h.outputId, AUTO_RELEASE, "approve", h.state);
    return held;
  }

  /** After the task is `outputs_pending_review`: tell the reviewers, auto-release what may be, finish if all decided. */
  async afterHeld(
    taskId: string,
    { notify = true, held }: { notify?: boolean; held?: HeldRecords } = {},
  ): Promise<void> {
    const task = held?.task ?? (await this.#o.store.task(taskId));
    if (!task) return;
    // Kept up to date by the auto-release below, so neither the notice nor the completion reads them again.
    let outputs = held?.outputs ?? (await this.#o.store.outputs(task));
    const notice: ReviewNotice = {
      tre: this.#o.tre,
      taskId,
      project: task.project,
      researcher: task.researcher,
      outputs: outputs.map((o) => ({ outputId: o.outputId, name: o.name, outcome: o.outcome })),
    };
    if (this.#o.policy.autoRelease) {
      const decided: HeldOutput[] = [];
      for (const o of outputs) {
        const revision = held?.written?.revisions[o.outputId];
        // Outputs auto-release may not decide (failing, or decided already) come back as they are.
        decided.push(await this.#autoRelease(o, revision === undefined ? undefined : { value: o, revision }));
      }
      outputs = decided;
    }
    const waiting = outputs.some((o) => o.state === "pending");
    if (notify && waiting) {
      this.#o.ctrl.publish(subjects.airlockEvents, JSON.stringify(notice));
      if (this.#o.policy.notify) {
        try {
          await notifyReviewers(this.#o.policy.notify, notice);
        } catch (e) {
          const error = asError(e);
          await this.#o.audit.append({
            actor: "airlock",
            action: "airlock.notify_failed",
            taskId,
            details: { error: error.message },
          });
          this.#o.onEvent?.({ type: "notify-failed", taskId, error });
        }
      }
    }
    await this.#complete(taskId, { task, outputs, ...(held?.written ? { written: held.written } : {}) });
  }

  /**
   * A task `hold` left with every output decided (auto-release, all passed): its `outputs_pending_review`, dated
   * when the outputs were held, and its release are one transition from `running` (`attempt`): one compare-and-set
   * and one audit record, made after the Release, which carries both steps, is stored. False, announcing nothing,
   * when some output is left for a reviewer or the task left `running` meanwhile. A restart between the two finishes
   * it (`finishBuilt`).
   */
  releaseAtHold(held: HeldRecords, attempt: number): Promise<boolean> {
    if (held.outputs.some((o) => o.state === "pending")) return Promise.resolve(false);
    return this.#complete(held.task.taskId, { ...held, status: pendingStep(held, attempt) });
  }

  /**
   * After a restart, a task caught `running` whose Release is stored: `releaseAtHold` made it and stopped before the
   * transition. It is finished as that would have; returns the outcome, or undefined when there is nothing to finish.
   */
  async finishBuilt(taskId: string, attempt: number): Promise<EgressOutcome | undefined> {
    const [task, egress] = await Promise.all([this.#o.store.task(taskId), this.#o.store.egress(taskId)]);
    if (!task || !egress) return undefined;
    const outputs = await this.#o.store.outputs(task);
    const finished = await this.#complete(taskId, {
      task,
      outputs,
      status: pendingStep({ task, outputs }, attempt),
    });
    return finished ? egress.outcome : undefined;
  }

  /**
   * The TRE's own approval of an output that passed every check, by its auto-release policy; undefined for any other
   * output, or one already decided.
   */
  #autoDecision(output: HeldOutput): { body: Decision; ctx: DecisionContext } | undefined {
    if (output.outcome !== "pass" || output.state !== "pending" || !output.releasableDigest) return undefined;
    const now = this.#now();
    const body: Decision = {
      id: newId(now),
      iat: now,
      exp: now + DECISION_LIFETIME_MS,
      taskId: output.taskId,
      tre: this.#o.tre,
      outputId: output.outputId,
      outputDigest: output.releasableDigest,
      verdict: "approve",
      reason: "passed every disclosure check; released by this TRE's auto-release policy",
    };
    const envelope = sealEnvelope("decision", body, this.#o.treKey);
    return {
      body,
      ctx: {
        reviewer: AUTO_RELEASE,
        publicKey: this.#o.treKey.publicKey,
        envelope: Buffer.from(envelope).toString("base64"),
        approvalsRequired: 1,
        at: now,
      },
    };
  }

  /**
   * Approves an output that passed every check, by the TRE's policy (one held before the policy was on, or before
   * a restart); returns its record after (or as it was). `written`: its record as `hold` wrote it, the
   * compare-and-set's starting point.
   */
  async #autoRelease(output: HeldOutput, written?: StoredOutput): Promise<HeldOutput> {
    const auto = this.#autoDecision(output);
    if (!auto) return output;
    const result = await this.#record(output.taskId, output.outputId, auto.body, auto.ctx, written);
    // Refused (a reviewer decided it first): its record as it is now.
    return result.ok
      ? result.output
      : ((await this.#o.store.output(output.taskId, output.outputId))?.value ?? output);
  }

  /** A verified Decision; `envelope` is its signed form, kept for the Release. */
  async #decide(opened: VerifiedOf<"decision">, envelope: Uint8Array): Promise<AirlockReply> {
    const decision = opened.body;
    const task = await this.#o.store.task(decision.taskId);
    if (!task?.outputIds.includes(decision.outputId)) {
      return this.#refuse(
        "decide",
        AirlockErrorCode.notFound,
        `no output ${decision.outputId} of task ${decision.taskId} in TRE ${this.#o.tre}'s airlock`,
      );
    }
    const state = (await this.#o.state.get(decision.taskId))?.state;
    if (state !== "outputs_pending_review") {
      const code = isReleaseOutcome(state) ? AirlockErrorCode.alreadyDecided : AirlockErrorCode.taskEnded;
      return this.#refuse("decide", code, `task ${decision.taskId} is ${state ?? "unknown"} here`);
    }
    const result = await this.#record(decision.taskId, decision.outputId, decision, {
      reviewer: opened.signer.name,
      publicKey: opened.signer.publicKey,
      envelope: Buffer.from(envelope).toString("base64"),
      approvalsRequired: this.#o.policy.approvalsRequired,
      at: this.#now(),
    });
    if (!result.ok) return this.#refuse("decide", result.code, result.message);
    if (result.output.state !== "pending") await this.#complete(decision.taskId);
    return { status: "ok", output: outputView(result.output) };
  }

  async #record(
    taskId: string,
    outputId: string,
    decision: Decision,
    ctx: Parameters<typeof applyDecision>[2],
    known?: StoredOutput,
  ): Promise<{ ok: true; output: HeldOutput } | { ok: false; code: AirlockErrorCode; message: string }> {
    // `known`: the record as this process wrote it, a starting point only. A write from it fails if anyone changed
    // the record since, and a refusal on it is checked against the record as stored.
    let copy = known;
    for (let attempt = 0; attempt < 20; attempt++) {
      const current = copy ?? (await this.#o.store.output(taskId, outputId));
      if (!current) return { ok: false, code: AirlockErrorCode.notFound, message: `no output ${outputId}` };
      const applied = applyDecision(current.value, decision, ctx);
      if (!applied.ok && copy) {
        copy = undefined;
        continue;
      }
      copy = undefined;
      if (!applied.ok) return applied;
      if (!(await this.#o.store.update(applied.output, current.revision))) continue; // another decision landed first
      await this.#o.audit.append({
        actor: ctx.reviewer === AUTO_RELEASE ? "airlock" : `reviewer:${ctx.reviewer}`,
        action: `airlock.${decision.verdict}`,
        taskId,
        details: { outputId, ...decisionDetails(decision), state: applied.output.state },
      });
      this.#decided(taskId, outputId, ctx.reviewer, decision.verdict, applied.output.state);
      return applied;
    }
    throw new Error(`output ${outputId} is contended`);
  }

  #decided(taskId: string, outputId: string, reviewer: string, verdict: string, state: string): void {
    this.#o.onEvent?.({ type: "decided", taskId, outputId, reviewer, verdict, state });
  }

  /**
   * When every output is decided: sign the Release once, move the task on, then let the Release out. `known` is the
   * task and its outputs as the caller just read or wrote them: a decided output never changes again, so a copy
   * that has every output decided is as good as a read.
   */
  #complete(taskId: string, known?: HeldRecords & { status?: HeldStatus }): Promise<boolean> {
    // One completion per task at a time in this process; the store and the state's compare-and-set cover the rest.
    const previous = this.#completing.get(taskId) ?? Promise.resolve();
    const next = previous.then(() => this.#completeNow(taskId, known));
    const settled = next.catch(() => undefined);
    this.#completing.set(taskId, settled);
    void settled.then(() => {
      if (this.#completing.get(taskId) === settled) this.#completing.delete(taskId);
    });
    return next;
  }

  /**
   * True when the task moved to its Release's outcome: the Release is in OUTBOX, or waits for its next try there
   * (`#send`). With `known.status` (`releaseAtHold`), that step is recorded and announced with
   * the release, from `running`; otherwise the task moves on from `outputs_pending_review`.
   */
  async #completeNow(taskId: string, known?: HeldRecords & { status?: HeldStatus }): Promise<boolean> {
    const task = known?.task ?? (await this.#o.store.task(taskId));
    if (!task) return false;
    // A copy that still holds an output as pending is read again: a reviewer may have decided it since, and that
    // decision's own completion may have run before this one's auto-release landed.
    let outputs = known?.outputs;
    if (!outputs || outputs.some((o) => o.state === "pending")) outputs = await this.#o.store.outputs(task);
    if (outputs.some((o) => o.state === "pending")) return false;
    const via = known?.status && taskEvent(known.status);
    // Just held and decided: no Release can exist yet, and `createEgress` keeps the first if one does.
    const egress =
      (known?.written ? undefined : await this.#o.store.egress(taskId)) ??
      (await this.#build(task, outputs, known));
    const released: AgentTaskEvent = {
      state: egress.outcome,
      at: egress.at ?? this.#now(),
      actor: RELEASE_ACTOR,
      reason: egress.reason,
    };
    const moved = await this.#o.state.transition(
      taskId,
      via ? [via, released] : released,
      (s) => s === (via ? "running" : "outputs_pending_review"),
    );
    if (!moved && (await this.#o.state.get(taskId))?.state !== egress.outcome) return false; // cancelled meanwhile: nothing leaves
    await this.#send(egress, moved ? attemptOf(moved) : undefined, known?.status);
    return true;
  }

  /**
   * Signs the Release of a task whose outputs are all decided and stores it, to be sent. It carries the step to
   * its outcome (`Release.status`), in the run the task is at, with the held-back `outputs_pending_review` of a
   * task decided at hold (`known.status`) passed on the way.
   */
  async #build(
    task: HeldTask,
    outputs: readonly HeldOutput[],
    known: (Partial<HeldRecords> & { status?: HeldStatus }) | undefined,
  ): Promise<EgressRecord> {
    const record = await this.#o.state.known(task.taskId);
    const before = known?.status;
    const attempt = before?.attempt ?? attemptOf(record ?? {});
    return this.#o.store.createEgress(
      await buildRelease(task, outputs, {
        tre: this.#o.tre,
        treKey: this.#o.treKey,
        store: this.#o.store,
        ...(known?.written ? { bytes: known.written.bytes } : {}),
        now: this.#now(),
        history: [...(record?.history ?? []), ...(before ? [taskEvent(before)] : [])],
        status: {
          actor: RELEASE_ACTOR,
          attempt,
          passed: [...this.#o.announcements.unannounced(task.taskId, attempt), ...(before ? [before] : [])],
        },
      }),
    );
  }

  /**
   * Puts the Release in OUTBOX, after the task's StatusEvents, where it announces its outcome itself, and records
   * that step (as part of `attempt`; by default the task's own) with the held-back status `before` it, if any, in
   * the TRE's audit log. If OUTBOX does not take it (full, or the server away), it is tried again after
   * `resendAfterMs`, and again, from the step that failed, until it is there: the task's record says it is released,
   * and the researcher is waiting for it. One already waiting for its next try is tried now.
   */
  async #send(egress: EgressRecord, attempt?: number, before?: HeldStatus): Promise<void> {
    const waiting = this.#resends.get(egress.taskId);
    if (waiting) clearTimeout(waiting.timer);
    this.#resends.delete(egress.taskId);
    const send = waiting?.send ?? this.#sendSteps(egress, attempt, before);
    await send().catch((e: unknown) =>
      this.#sendAgain(egress.taskId, send, asError(e), this.#o.resendAfterMs ?? 1_000),
    );
  }

  /** Sending the Release as steps, each done once however many tries it takes: OUTBOX, the audit record, the mark. */
  #sendSteps(egress: EgressRecord, attempt?: number, before?: HeldStatus): () => Promise<void> {
    const announcements = this.#o.announcements;
    let published = false;
    let recorded = false;
    return async () => {
      if (!published) {
        await announcements.releasing(egress.taskId, () =>
          this.#dmzJs.publish(
            subjects.release(this.#o.tre, egress.taskId),
            Buffer.from(egress.envelope, "base64"),
            // A try after one that stored it but lost the answer is dropped by OUTBOX as a duplicate.
            { msgID: `release.${this.#o.tre}.${egress.taskId}` },
          ),
        );
        published = true;
      }
      if (!recorded) {
        const step = {
          state: egress.outcome,
          at: egress.at ?? this.#now(),
          ...(egress.reason ? { reason: egress.reason } : {}),
        };
        await announcements.released(egress.taskId, before ? [before, step] : [step], RELEASE_ACTOR, attempt);
        recorded = true;
      }
      await this.#o.store.markSent(egress.taskId, this.#now());
      this.#o.onEvent?.({ type: "released", taskId: egress.taskId, outcome: egress.outcome });
    };
  }

  /** Tries `send` again after `afterMs`, then after twice that (up to a minute), until it succeeds or the agent stops. */
  #sendAgain(taskId: string, send: () => Promise<void>, error: Error, afterMs: number): void {
    this.#o.onEvent?.({ type: "send-failed", taskId, error, retryInMs: afterMs });
    if (this.#stopped) return; // the next start sends it (`recover`)
    const timer = setTimeout(() => {
      this.#resends.delete(taskId);
      send().catch((e: unknown) =>
        this.#sendAgain(taskId, send, asError(e), Math.min(afterMs * 2, RESEND_MAX_MS)),
      );
    }, afterMs);
    this.#resends.set(taskId, { send, timer });
  }

  /** Stops trying again the Releases OUTBOX has not taken: the agent's next start sends them (`recover`). */
  stop(): void {
    this.#stopped = true;
    for (const { timer } of this.#resends.values()) clearTimeout(timer);
    this.#resends.clear();
  }

  /**
   * Before a task runs again: what an interrupted run held is discarded inside the TRE, and recorded in its audit
   * chain. Returns false, discarding nothing, when a Release of the task exists already: it must never run again.
   */
  async discardAttempt(taskId: string, attempt: number): Promise<boolean> {
    if (await this.#o.store.egress(taskId)) return false;
    const outputs = await this.#o.store.discard(taskId);
    if (outputs > 0) {
      await this.#o.audit.append({
        actor: "airlock",
        action: "airlock.discarded",
        taskId,
        details: { outputs, attempt, reason: "the run that made them was interrupted" },
      });
    }
    return true;
  }

  /**
   * After a restart: send Releases built but not sent, and finish tasks whose outputs were all decided. `records`: every
   * task record, as the start read them (`AgentState.all`).
   */
  async recover(records: readonly AgentTask[]): Promise<void> {
    for (const egress of await this.#o.store.unsent()) {
      const state = (await this.#o.state.get(egress.taskId))?.state;
      if (state === egress.outcome) await this.#send(egress);
      else if (state === "outputs_pending_review") await this.#complete(egress.taskId);
    }
    // Tasks awaiting review as the start read them, each read again: a Release sent above may have finished it.
    for (const { taskId, state } of records) {
      if (state !== "outputs_pending_review") continue;
      if ((await this.#o.state.get(taskId))?.state === "outputs_pending_review")
        await this.afterHeld(taskId, { notify: false });
    }
  }

  #refuse(request: "query" | "decide", code: AirlockErrorCode, message: string): AirlockReply {
    this.#o.onEvent?.({ type: "refused", request, code, reason: message });
    return { status: "error", code, message };
  }
}

/** The `outputs_pending_review` of a task decided at hold, to be recorded with its release: dated when held. */
function pendingStep({ task, outputs }: Pick<HeldRecords, "task" | "outputs">, attempt: number): HeldStatus {
  return {
    state: "outputs_pending_review",
    at: task.heldAt,
    reason: heldReason(outputs),
    actor: AGENT_ACTOR,
    attempt,
  };
}
