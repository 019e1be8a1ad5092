/**
 * What the demo does once its federation runs: the admin registers the researcher and the project, the
 * researcher submits one analysis of each kind to all three TREs — and, when the TREs run containers, a
 * GA4GH TES task running the demo image — each TRE's airlock checks the outputs (passing ones leave by
 * auto-release; for one held for review the TRE's reviewer approves its releasable form, with failing cells
 * withheld, or rejects it when none can be made), and the researcher verifies and combines the Releases.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  collectResults,
  fetchTask,
  fetchTres,
  submit as submitTask,
  type TaskResults,
  TES_DATASET_URL,
  tesTaskToSubmission,
} from "../aggregator/index.js";
import { waitFor } from "../common/index.js";
import type { AnalysisSpec, SigningKey, TaskView } from "../protocol/index.js";
import { admin } from "./admin.js";
import { listReviews, sendDecision, showReview } from "./airlock-requests.js";
import type { Io } from "./command.js";
import { DEMO_IMAGE_SCRIPT } from "./demo-container.js";
import { DEMO_PROJECT, DEMO_RESEARCHER, DEMO_REVIEWER, type DemoFederation } from "./demo-federation.js";
import { connectProfile, loadProfile, type Profile } from "./profile.js";
import { hasEnded } from "./results-command.js";

const DEMO_ANALYSES: { title: string; analysis: AnalysisSpec }[] = [
  { title: "patients by sex", analysis: { kind: "count", dataset: "patients", groupBy: ["sex"] } },
  {
    title: "BMI by sex",
    analysis: { kind: "summary", dataset: "patients", column: "bmi", groupBy: ["sex"] },
  },
  {
    title: "age distribution",
    analysis: { kind: "histogram", dataset: "patients", column: "age", bins: { min: 18, max: 98, count: 8 } },
  },
  {
    title: "smoking by diabetes",
    analysis: { kind: "crosstab", dataset: "patients", rows: "smoker", cols: "diabetes" },
  },
  {
    title: "systolic blood pressure ~ age + BMI",
    analysis: { kind: "regression", dataset: "patients", outcome: "systolic_bp", predictors: ["age", "bmi"] },
  },
];

/**
 * The demo's container analysis as a Five Safes TES user writes it: a GA4GH TES task running the demo
 * image's summary of systolic blood pressure over each TRE's `patients` extract.
 */
function demoTesTask(image: string, tres: readonly string[]) {
  return {
    name: "mean systolic blood pressure, in a container (TES)",
    inputs: [{ url: `${TES_DATASET_URL}patients`, path: "/data/patients.csv", type: "FILE" }],
    outputs: [{ path: "/outputs", type: "DIRECTORY" }],
    executors: [{ image, command: [DEMO_IMAGE_SCRIPT], env: { COLUMN: "systolic_bp" } }],
    tags: { Project: DEMO_PROJECT, tres: tres.join("|") },
  };
}

export interface DemoReview {
  tre: string;
  output: string;
  outcome: string;
  action: "approved the releasable form" | "rejected";
  findings: number;
}

export interface DemoAnalysisResult {
  title: string;
  analysis: AnalysisSpec;
  taskId: string;
  task: TaskView;
  reviews: DemoReview[];
  results: TaskResults;
}

async function connectWhenUp(profile: Profile, timeoutMs: number): Promise<NatsConnection> {
  return waitFor(
    `${profile.server} at ${profile.url}`,
    () => connectProfile(profile, 1_000).catch(() => undefined),
    {
      timeoutMs,
      intervalMs: 200,
    },
  );
}

/** Waits until the profile's server accepts it (a party process just started). */
export async function waitForProfile(file: string, timeoutMs: number): Promise<void> {
  await (await connectWhenUp(await loadProfile(file), timeoutMs)).close();
}

/** Runs the suite; `say` gets progress lines for people. */
export async function runDemoSuite(
  fed: DemoFederation,
  say: (line: string) => void,
): Promise<DemoAnalysisResult[]> {
  const profiles = fed.files.profiles;
  const researcher = await loadProfile(profiles[DEMO_RESEARCHER]);
  const quiet: Io = { out: () => {}, err: (l) => say(l) };
  const adminProfile = profiles.admin!;
  (await connectWhenUp(await loadProfile(adminProfile), 30_000)).close();

  // The researcher was onboarded with the TREs (`admin add-researcher`); the project is the admin's last step.
  const setup = [
    [
      "project",
      "create",
      DEMO_PROJECT,
      "--tres",
      Object.keys(fed.files.leafConfigs).join(","),
      "--members",
      DEMO_RESEARCHER,
      "--until",
      new Date(Date.now() + 30 * 86_400_000).toISOString(),
    ],
  ];
  for (const argv of setup) {
    const code = await admin.run([...argv, "--profile", adminProfile], quiet);
    if (code !== 0) throw new Error(`tremesh admin ${argv.slice(0, 2).join(" ")} failed (exit ${code})`);
  }

  const nc = await connectWhenUp(researcher, 10_000);
  try {
    const key = researcher.key!;
    const tres = Object.keys(fed.files.leafConfigs);
    await waitFor(
      "every TRE online",
      async () => (await fetchTres(nc, key)).filter((t) => t.online).length === tres.length,
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    say(`federation up: hub and ${tres.length} TREs (${tres.join(", ")}) online`);

    const analyses = [...DEMO_ANALYSES];
    if (fed.containers) {
      // Imported exactly as `tremesh submit --tes` imports a task file.
      const tes = tesTaskToSubmission(demoTesTask(fed.containers.image, tres));
      for (const w of tes.warnings) say(`TES import: ${w}`);
      analyses.push({ title: tes.title ?? "container", analysis: tes.analysis });
    }
    const submitted: { title: string; analysis: AnalysisSpec; taskId: string }[] = [];
    for (const a of analyses) {
      const reply = await submitTask(nc, key, {
        project: DEMO_PROJECT,
        tres,
        analysis: a.analysis,
        title: a.title,
      });
      if (reply.status !== "accepted") throw new Error(`the hub refused "${a.title}": ${reply.message}`);
      submitted.push({ ...a, taskId: reply.taskId });
    }
    say(`submitted ${submitted.length} analyses to ${tres.join(", ")}`);

    const results: DemoAnalysisResult[] = [];
    for (const s of submitted) {
      const reviews = await reviewUntilEnded(fed, nc, key, s.taskId, say);
      const task = await fetchTask(nc, key, s.taskId);
      results.push({
        ...s,
        task,
        reviews,
        results: await collectResults(nc, key, s.taskId, researcher.treKeys),
      });
    }
    return results;
  } finally {
    await nc.close();
  }
}

/**
 * Follows a task; whenever a TRE holds outputs for review, acts as that TRE's reviewer: approves the
 * releasable form the checks offer (failing cells withheld, counts rounded), or rejects an output that has none.
 */
async function reviewUntilEnded(
  fed: DemoFederation,
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  say: (line: string) => void,
): Promise<DemoReview[]> {
  const reviews: DemoReview[] = [];
  const reviewed = new Set<string>();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const task = await fetchTask(nc, key, taskId);
    if (hasEnded(task)) return reviews;
    if (Date.now() > deadline) throw new Error(`task ${taskId} is still ${task.state} after 60 s`);
    for (const child of task.children) {
      if (child.state !== "outputs_pending_review" || reviewed.has(child.tre)) continue;
      reviewed.add(child.tre);
      reviews.push(...(await reviewAt(fed, child.tre, taskId, say)));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function reviewAt(fed: DemoFederation, tre: string, taskId: string, say: (line: string) => void) {
  const profile = await loadProfile(fed.files.profiles[`reviewer-${tre}-${DEMO_REVIEWER}`]);
  const nc = await connectProfile(profile);
  const done: DemoReview[] = [];
  try {
    // Auto-release may still be finishing: only outputs still pending need a person.
    await listReviews(nc, profile.key!, tre);
    const held = await showReview(nc, profile.key!, tre, taskId);
    for (const o of held.outputs.filter((x) => x.state === "pending")) {
      const approve = o.releasableDigest !== undefined;
      const failed = o.outcome === "fail";
      // A "review" outcome failed nothing: it holds what no automatic check can judge (a container's
      // summary without dominance facts, a file), which the reviewer reads before releasing it.
      const [reason, told] = !approve
        ? ["the disclosure checks failed and no safe form exists", "rejected it"]
        : failed
          ? ["releasing the checked form, failing cells withheld", "approved the releasable form"]
          : ["read it; nothing in it identifies anyone", "read it and approved it"];
      await sendDecision(nc, profile.key!, {
        tre,
        taskId,
        outputId: o.outputId,
        outputDigest: approve ? o.releasableDigest! : o.digest,
        verdict: approve ? "approve" : "reject",
        reason: `demo reviewer: ${reason}`,
      });
      done.push({
        tre,
        output: o.name,
        outcome: o.outcome,
        action: approve ? "approved the releasable form" : "rejected",
        findings: o.findings.length,
      });
      const why = o.findings.map((f) =>
        f.outcome === "fail" ? `${f.rule} at ${f.at || "output"}` : f.detail,
      );
      say(
        `${tre}: ${o.name} ${failed ? "failed the disclosure checks" : "is held for a person to read"} (${why.join("; ")}); reviewer ${DEMO_REVIEWER} ${told}`,
      );
    }
  } finally {
    await nc.close();
  }
  return done;
}
