/**
 * The airlock's read API for reviewers: the tasks awaiting review (or every task), one task's outputs with
 * their disclosure checks, decisions and bytes, and the TRE's signed crate of a task it has released. Reads
 * only; decisions are the Airlock's.
 *
 * Reviews are independent and blind: what a reviewer is told of an output never includes another reviewer's
 * decision while the asking reviewer still has theirs to make (`blindView`). The page and the CLI show what they
 * are sent, so the rule holds whatever client a reviewer uses.
 */
import { match } from "ts-pattern";
import type {
  AirlockErrorCode,
  AirlockOutputView,
  AirlockReply,
  AirlockTaskView,
  ChildState,
  ReviewQuery,
} from "../protocol/index.js";
import { AirlockErrorCode as Code } from "../protocol/index.js";
import type { AgentState } from "./agent-state.js";
import { crateOfRelease } from "./airlock-crate.js";
import type { AirlockStore, HeldOutput, HeldTask } from "./airlock-store.js";

export class AirlockReview {
  constructor(
    private readonly store: AirlockStore,
    private readonly state: AgentState,
    /** Approvals of the same bytes that release an output: with 2, the reviews are blind until both are in. */
    private readonly approvalsRequired: number,
    /** The refusal reply, reported as the airlock's event. */
    private readonly refuse: (code: AirlockErrorCode, message: string) => AirlockReply,
    /** This TRE, and the key its Releases are signed with. */
    private readonly tre: { tre: string; treKey: string },
  ) {}

  /**
   * A reviewer's verified ReviewQuery: the tasks awaiting review, or one task with its outputs' bytes, as the
   * reviewer with public key `viewer` may see them.
   */
  query(q: ReviewQuery, viewer: string): Promise<AirlockReply> {
    return match(q.what)
      .with("show", () => this.#show(q.taskId, viewer))
      .with("list", () => this.#list(q.all === true, viewer))
      .with("crate", () => this.#crate(q.taskId))
      .exhaustive();
  }

  /** The crate the TRE signed with the task's Release: the Release it kept, with the files it carries put back. */
  async #crate(taskId: string | undefined): Promise<AirlockReply> {
    if (!taskId) return this.refuse(Code.badRequest, "crate needs a task id");
    if (!(await this.store.task(taskId))) return this.refuse(Code.notFound, this.#notHeld(taskId));
    const egress = await this.store.egress(taskId);
    if (!egress)
      return this.refuse(
        Code.notFound,
        `task ${taskId} has no Release yet: its crate is made when it is released`,
      );
    const crate = crateOfRelease(Buffer.from(egress.envelope, "base64"), this.tre.tre, this.tre.treKey);
    if (!crate)
      return this.refuse(Code.notFound, `the Release of task ${taskId} carries no crate (it would not fit)`);
    return { status: "ok", crate };
  }

  async #show(taskId: string | undefined, viewer: string): Promise<AirlockReply> {
    if (!taskId) return this.refuse(Code.badRequest, "show needs a task id");
    const task = await this.store.task(taskId);
    if (!task) return this.refuse(Code.notFound, this.#notHeld(taskId));
    return { status: "ok", tasks: [await this.#taskView(task, viewer, true)] };
  }

  /**
   * Why a task id finds nothing, in words that send a reviewer who followed another TRE's link, or mistyped an id,
   * the right way: each TRE's airlock holds only the outputs of tasks that ran there.
   */
  #notHeld(taskId: string): string {
    return `no task ${taskId} in TRE ${this.tre.tre}'s airlock: none of its outputs is held here. A task another TRE ran is reviewed at that TRE, with a profile for it; a task still running here appears once its outputs are held; otherwise check the id`;
  }

  async #list(all: boolean, viewer: string): Promise<AirlockReply> {
    const views: AirlockTaskView[] = [];
    // Both read in one pass each: a TRE's airlock holds every task it ever released.
    const [tasks, records] = await Promise.all([this.store.tasks(), this.state.all()]);
    const states = new Map(records.map((r) => [r.taskId, r.state]));
    for (const task of tasks) {
      // Only tasks still in review are read in full, unless every task was asked for.
      const state = states.get(task.taskId);
      if (!all && state !== "outputs_pending_review") continue;
      const view = await this.#taskView(task, viewer, false, state);
      if (all || view.outputs.some((o) => o.state === "pending")) views.push(view);
    }
    return { status: "ok", tasks: views };
  }

  async #taskView(
    task: HeldTask,
    viewer: string,
    withData: boolean,
    knownState?: ChildState,
  ): Promise<AirlockTaskView> {
    const outputs: AirlockOutputView[] = [];
    for (const o of await this.store.outputs(task)) {
      const view = blindView(o, viewer, this.approvalsRequired);
      if (withData) {
        const data = await this.store.bytes(o, "data");
        const releasable = await this.store.bytes(o, "releasable");
        if (data) view.data = data;
        if (releasable) view.releasable = releasable;
      }
      outputs.push(view);
    }
    return {
      taskId: task.taskId,
      state: knownState ?? (await this.state.get(task.taskId))?.state ?? "outputs_pending_review",
      project: task.project,
      researcher: task.researcher,
      kind: task.kind,
      ...(task.title ? { title: task.title } : {}),
      heldAt: task.heldAt,
      outputs,
    };
  }
}

/**
 * One held output as the reviewer with public key `viewer` sees it (without its bytes). The others' decisions
 * are hidden, only their number told, while the output is pending, `viewer` has not decided it, and fewer
 * decisions than `approvalsRequired` are in: once that many are in and the output is still pending, the
 * reviewers disagree, and the conflict is shown to whoever settles it.
 */
export function blindView(o: HeldOutput, viewer: string, approvalsRequired: number): AirlockOutputView {
  const view = outputView(o);
  const blind =
    o.state === "pending" &&
    o.decisions.length < approvalsRequired &&
    !o.decisions.some((d) => d.publicKey === viewer);
  if (!blind || o.decisions.length === 0) return view;
  return { ...view, decisions: [], hidden: o.decisions.length };
}

/** One held output with every decision (without its bytes): for a reviewer who has just decided it. */
export function outputView(o: HeldOutput): AirlockOutputView {
  return {
    outputId: o.outputId,
    name: o.name,
    mediaType: o.mediaType,
    digest: o.digest,
    size: o.size,
    createdAt: o.createdAt,
    outcome: o.outcome,
    findings: o.findings,
    ...(o.releasableDigest ? { releasableDigest: o.releasableDigest } : {}),
    state: o.state,
    ...(o.releasedDigest ? { releasedDigest: o.releasedDigest } : {}),
    decisions: o.decisions.map((d) => ({
      reviewer: d.reviewer,
      verdict: d.verdict,
      digest: d.digest,
      ...(d.reason ? { reason: d.reason } : {}),
      at: d.at,
    })),
  };
}
