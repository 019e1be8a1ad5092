/**
 * Whether this TRE runs a verified Dispatch: the TRE's own decision, never the hub's. The researcher's signature
 * on the Submission inside must verify with the keys this TRE knows, the Submission must be the task, still be
 * valid and address this TRE, the TRE's approvals (leaf.yaml) must allow the project, researcher, analysis, datasets and
 * image, an executor must take the analysis, and a query must compile against its dataset's allow-list. Pure:
 * no NATS, no clock but `now`; asynchronous only because the signature is checked on Node's thread pool.
 */
import { AnalysisRefused, compile, type DatasetDefinition, type Executor } from "../executors/index.js";
import {
  type Dispatch,
  type Mend,
  openEnvelopeAsync,
  RejectCode,
  type Submission,
  type TrustStore,
} from "../protocol/index.js";
import type { ProjectApproval } from "./leaf-config.js";
import { authorise } from "./policy.js";

/** What admission reads: this TRE's name, the researchers it knows, its approvals, datasets and executors. */
export interface AdmissionConfig {
  tre: string;
  /** The researchers this TRE knows, by key (role `researcher`). */
  researchers: TrustStore;
  projects: readonly ProjectApproval[];
  datasets: readonly DatasetDefinition[];
  executors: readonly Executor[];
}

export type Admission =
  | { ok: true; submission: Submission; researcher: string; executor: Executor }
  | { ok: false; reason: string; mend?: Mend };

const refuse = (reason: string): Admission => ({ ok: false, reason });

/**
 * @example
 * const admitted = await admit(dispatch, { tre: "a", researchers, projects, datasets, executors }, Date.now());
 * if (!admitted.ok) await record(taskId, "rejected", admitted.reason);
 */
export async function admit(dispatch: Dispatch, config: AdmissionConfig, now: number): Promise<Admission> {
  if (dispatch.exp <= now) return refuse("the task expired before this TRE could start it");
  const inner = await openEnvelopeAsync(dispatch.submission, {
    trust: config.researchers,
    expect: "submission",
    allowExpired: true,
    now,
  });
  if (!inner.ok) {
    // An unknown key is this TRE's approvals speaking, not a broken message: say so, and whose move it is.
    if (inner.error.code === RejectCode.unknownSigner)
      return refuse(
        `this TRE has not approved the researcher who signed the task (${inner.error.message}); ` +
          "its operator approves researchers and their keys in leaf.yaml",
      );
    return refuse(`the researcher's submission does not verify here: ${inner.error.message}`);
  }
  const submission = inner.value.body;
  const researcher = inner.value.signer.name;
  if (submission.id !== dispatch.taskId)
    return refuse("the dispatch does not match the researcher's submission");
  // The researcher's own expiry bounds the task, not only the hub's: the hub holds every Submission, and a
  // compromised one could wrap an old one in a fresh Dispatch (after this TRE forgot the task, task-retention.ts)
  // to run it again. An honest hub never dispatches past it (hub/dispatcher.ts caps a Dispatch's exp there).
  if (submission.exp <= now)
    return refuse(
      `the researcher's submission expired (${new Date(submission.exp).toISOString()}) before this TRE could start it`,
    );
  if (!submission.tres.includes(config.tre))
    return refuse(`the researcher did not address this TRE (${config.tre})`);
  const decision = authorise(
    { project: submission.project, researcher, analysis: submission.analysis, now },
    config.projects,
    new Set(config.datasets.map((d) => d.name)),
  );
  if (!decision.ok) return refuse(decision.reason);
  const executor = config.executors.find((e) => e.kinds.includes(submission.analysis.kind));
  if (!executor) return refuse(`this TRE has no executor for ${submission.analysis.kind} analyses`);
  if (submission.analysis.kind !== "container") {
    // Checked against the dataset's allow-list before anything runs, so a refusal is `rejected`, not a failed run.
    const named = submission.analysis.dataset;
    const dataset = config.datasets.find((d) => d.name === named);
    try {
      if (dataset) compile(submission.analysis, dataset);
    } catch (e) {
      if (e instanceof AnalysisRefused)
        return { ok: false, reason: `analysis refused: ${e.message}`, mend: "analysis" };
      throw e;
    }
  }
  return { ok: true, submission, researcher, executor };
}
