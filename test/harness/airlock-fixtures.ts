/**
 * What the airlock tests share: two count analyses of the synthetic patients (one whose cells pass, one with
 * cells of fewer than 10 people), and an Airlock on one TRE's own leaf, sharing the agent's store, state and audit log, with a fresh task already
 * awaiting review: for holding outputs no executor made (hand-made descriptions, hostile names and labels).
 */
import { jetstream } from "@nats-io/jetstream";
import { AuditLog } from "../../audit/index.js";
import { AgentState } from "../../leaf/agent-state.js";
import { Airlock, type ReviewPolicy } from "../../leaf/airlock.js";
import { AirlockStore } from "../../leaf/airlock-store.js";
import { loadLeafConfig } from "../../leaf/index.js";
import { type AnalysisSpec, newId } from "../../protocol/index.js";
import type { Federation } from "./federation.js";

/** Groups small enough that some cells at the small synthetic TRE hold fewer than 10 people. */
export const FINE_COUNT: AnalysisSpec = {
  kind: "count",
  dataset: "patients",
  groupBy: ["region", "sex", "smoker", "diabetes"],
};
export const REGION_COUNT: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["region"] };

export async function airlockOnLeaf(fed: Federation, tre: string, policy: Partial<ReviewPolicy> = {}) {
  const leaf = fed.leaves.get(tre);
  const file = fed.files.leafConfigs[tre];
  if (!leaf || !file) throw new Error(`TRE ${tre}'s leaf is not running`);
  const config = await loadLeafConfig(file);
  const ctrlJs = jetstream(leaf.ctrl);
  const state = await AgentState.open(ctrlJs);
  const taskId = newId();
  await state.claim({ taskId, state: "outputs_pending_review", history: [] });
  const announced: string[] = [];
  const airlock = new Airlock({
    tre,
    treKey: config.treKey,
    dmz: leaf.dmz,
    ctrl: leaf.ctrl,
    store: await AirlockStore.open(ctrlJs),
    state,
    audit: new AuditLog(ctrlJs, { scope: tre }),
    announcements: {
      unannounced: () => [],
      releasing: async (_t, send) => void (await send()),
      released: async (_t, steps) => void announced.push(...steps.map((s) => s.state)),
    },
    reviewers: config.reviewers,
    rules: config.disclosure,
    policy: { approvalsRequired: 1, autoRelease: false, ...policy },
  });
  return { config, ctrlJs, taskId, announced, airlock };
}
