import { describe, expect, it } from "vitest";
import { type DatasetDefinition, QueryExecutor } from "../executors/index.js";
import {
  type Dispatch,
  generateKeyPair,
  newId,
  type SigningKey,
  type Submission,
  sealEnvelope,
  signingKeyFromSeed,
  TrustStore,
} from "../protocol/index.js";
import type { ProjectApproval } from "./leaf-config.js";
import { type AdmissionConfig, admit } from "./task-admission.js";

const now = Date.UTC(2026, 5, 1);
const userKey = (): SigningKey => signingKeyFromSeed(generateKeyPair("user").seed);
const alice = userKey();
const stranger = userKey();

const patients: DatasetDefinition = {
  engine: "csv",
  name: "patients",
  path: "/data/patients.csv",
  columns: { age: "numeric", region: "categorical" },
  identifiers: ["nhs_number"],
};
const project: ProjectApproval = {
  name: "diabetes-2026",
  researchers: ["alice"],
  analyses: ["count"],
  datasets: ["patients"],
};
const config: AdmissionConfig = {
  tre: "a",
  researchers: new TrustStore().add({ publicKey: alice.publicKey, role: "researcher", name: "alice" }),
  projects: [project],
  datasets: [patients],
  executors: [new QueryExecutor()],
};

function dispatchOf(
  over: Partial<Submission> = {},
  key = alice,
  dispatchOver: Partial<Dispatch> = {},
): Dispatch {
  const id = newId(now);
  const submission: Submission = {
    id,
    iat: now,
    exp: now + 3600_000,
    project: "diabetes-2026",
    tres: ["a", "b"],
    analysis: { kind: "count", dataset: "patients", groupBy: ["region"] },
    ...over,
  };
  return {
    id: newId(now),
    iat: now,
    exp: now + 3600_000,
    taskId: id,
    tre: "a",
    submission: sealEnvelope("submission", submission, key),
    ...dispatchOver,
  };
}

const reasonOf = async (d: Dispatch, c: AdmissionConfig = config) => {
  const a = await admit(d, c, now);
  return a.ok ? "admitted" : a.reason;
};

describe("admit", () => {
  it("admits an approved researcher's count on an allowed dataset, with the executor that runs it", async () => {
    const admitted = await admit(dispatchOf(), config, now);
    expect(admitted).toMatchObject({
      ok: true,
      researcher: "alice",
      submission: { project: "diabetes-2026" },
    });
    expect(admitted.ok && admitted.executor).toBe(config.executors[0]);
  });

  it("refuses a task that expired before it could start", async () => {
    expect(await reasonOf(dispatchOf({}, alice, { exp: now }))).toBe(
      "the task expired before this TRE could start it",
    );
  });

  it("refuses a Dispatch that outlives the researcher's Submission inside it", async () => {
    const d = dispatchOf({ iat: now - 7_200_000, exp: now - 3_600_000 });
    expect(await reasonOf(d)).toBe(
      `the researcher's submission expired (${new Date(now - 3_600_000).toISOString()}) before this TRE could start it`,
    );
  });

  it("refuses a submission signed by a key this TRE does not know", async () => {
    expect(await reasonOf(dispatchOf({}, stranger))).toBe(
      `this TRE has not approved the researcher who signed the task (signer ${stranger.publicKey.slice(0, 8)}… is not trusted); its operator approves researchers and their keys in leaf.yaml`,
    );
  });

  it("refuses a dispatch whose task is not the researcher's submission", async () => {
    const d = dispatchOf();
    expect(await reasonOf({ ...d, taskId: newId(now) })).toBe(
      "the dispatch does not match the researcher's submission",
    );
  });

  it("refuses a submission that did not address this TRE", async () => {
    expect(await reasonOf(dispatchOf({ tres: ["b"] }))).toBe("the researcher did not address this TRE (a)");
  });

  it("refuses what the TRE's own approvals do not allow", async () => {
    expect(await reasonOf(dispatchOf({ project: "other" }))).toBe("this TRE has not approved project other");
    const ended = { ...config, projects: [{ ...project, until: now }] };
    expect(await reasonOf(dispatchOf(), ended)).toMatch(
      /^this TRE's approval of project diabetes-2026 ended/,
    );
    const summary = dispatchOf({ analysis: { kind: "summary", dataset: "patients", column: "age" } });
    expect(await reasonOf(summary)).toBe(
      "this TRE does not allow summary analyses for project diabetes-2026",
    );
  });

  it("refuses an analysis no executor here takes", async () => {
    expect(await reasonOf(dispatchOf(), { ...config, executors: [] })).toBe(
      "this TRE has no executor for count analyses",
    );
  });

  it("refuses a query outside the dataset's allow-list before anything runs", async () => {
    const reason = await reasonOf(
      dispatchOf({ analysis: { kind: "count", dataset: "patients", groupBy: ["nhs_number"] } }),
    );
    expect(reason).toMatch(/^analysis refused: /);
  });
});
