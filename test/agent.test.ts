import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, SYNTHETIC_PATIENT_COLUMNS } from "../fixtures/index.js";
import { AgentState } from "../leaf/agent-state.js";
import { AirlockStore } from "../leaf/airlock-store.js";
import { type AnalysisSpec, decodeOutput, type TaskView } from "../protocol/index.js";
import { addProject, type Federation, registerResearchers, startFederation } from "./harness/federation.js";
import { type PatientEngines, startPatientEngines } from "./harness/patient-engines.js";
import { expectSameStatistics, referenceOutput } from "./harness/reference-stats.js";
import { uniqueToken } from "./harness/unique.js";

const ROOT = join(import.meta.dirname, "..");
const rows = generatePatients(patientProfiles.north, 7);
const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };
let engines: PatientEngines;
let fed: Federation;
const rolePrefix = `tt_${uniqueToken()}_`;

async function submit(
  profile: string,
  project: string,
  tres: string,
  analysis: AnalysisSpec,
): Promise<string> {
  const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(analysis));
  const r = await fed.cli(["submit", "--project", project, "--tres", tres, file], profile);
  expect(r.err).toEqual([]);
  return r.out[0]!;
}

async function view(taskId: string, profile = "alice"): Promise<TaskView> {
  const r = await fed.cli(["status", taskId, "--json"], profile);
  return JSON.parse(r.out.join("\n")) as TaskView;
}

async function childSettles(taskId: string, tre: string, state: string, profile = "alice") {
  return waitFor(
    `${tre} to reach ${state}`,
    async () => (await view(taskId, profile)).children.find((c) => c.tre === tre && c.state === state),
    { timeoutMs: 30_000 },
  );
}

async function taskRoles(): Promise<string[]> {
  const admin = await engines.pg.connectAdmin();
  try {
    const r = await admin.query<{ rolname: string }>(
      "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)",
      [rolePrefix],
    );
    return r.rows.map((x) => x.rolname);
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  engines = await startPatientEngines({ rows });
  const pgPassword = join("secrets", "pg-admin.password");
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice", "bob"],
    startLeaves: [],
    leafExtra: (tre) =>
      tre === "a"
        ? {
            datasets: [
              { name: "patients", engine: "csv", path: join(engines.dir, "patients.csv"), ...allow },
            ],
            projects: [
              {
                name: "diabetes",
                researchers: ["alice"],
                analyses: ["count", "summary", "histogram", "crosstab"],
                datasets: ["patients"],
              },
            ],
          }
        : {
            datasets: ["patients", "slow_patients"].map((table) => ({
              name: table,
              engine: "postgres",
              schema: "public",
              table,
              ...allow,
            })),
            postgres: {
              host: engines.pg.host,
              port: engines.pg.port,
              database: engines.pg.database,
              user: engines.pg.adminUser,
              passwordFile: `./${pgPassword}`,
              rolePrefix,
            },
            taskTimeoutMs: 120_000,
            projects: [
              {
                name: "diabetes",
                researchers: ["alice"],
                analyses: ["count", "summary"],
                datasets: ["patients", "slow_patients"],
              },
            ],
          },
  });
  await writeFile(join(fed.files.dir, pgPassword), `${engines.pg.adminPassword}\n`, { mode: 0o600 });
  await fed.startLeaf("a");
  await fed.startLeaf("b");
  await registerResearchers(fed, ["alice", "bob"]);
  await addProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice", "bob"] });
  await addProject(fed, { project: "unapproved", tres: ["a"], members: ["alice", "bob"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await engines?.stop();
});

describe("the TRE agent", () => {
  it("runs an approved task at each TRE and holds outputs equal to the statistic computed on the table", async () => {
    const analysis: AnalysisSpec = { kind: "summary", dataset: "patients", column: "bmi", groupBy: ["sex"] };
    const taskId = await submit("alice", "diabetes", "a,b", analysis);
    for (const tre of ["a", "b"]) {
      const child = await childSettles(taskId, tre, "outputs_pending_review");
      expect(child.history.map((h) => h.state)).toEqual([
        "queued",
        "received",
        "accepted",
        "running",
        "outputs_pending_review",
      ]);
      expect(child.history.slice(1).every((h) => h.actor === `tre:${tre}/agent`)).toBe(true);

      const airlock = await AirlockStore.open(jetstream(fed.leaves.get(tre)!.ctrl));
      const [held] = await airlock.outputs((await airlock.task(taskId))!);
      expect(held).toMatchObject({ taskId, state: "pending" });
      const output = decodeOutput((await airlock.data(taskId, held!.outputId))!);
      expectSameStatistics(output, referenceOutput(analysis as never, rows));
    }
    // Nothing of the output crossed to the hub: the task waits for review at each TRE.
    expect((await view(taskId)).state).toBe("running");
    expect(await taskRoles()).toEqual([]); // b's per-task role was dropped when the task ended
  });

  it("refuses, at the TRE, tasks the hub dispatched but the TRE has not approved, saying why", async () => {
    const cases: [string, string, AnalysisSpec, RegExp][] = [
      ["alice", "unapproved", { kind: "count", dataset: "patients" }, /has not approved project unapproved/],
      [
        "bob",
        "diabetes",
        { kind: "count", dataset: "patients" },
        /has not approved bob for project diabetes/,
      ],
      [
        "alice",
        "diabetes",
        { kind: "regression", dataset: "patients", outcome: "bmi", predictors: ["age"] },
        /does not allow regression analyses/,
      ],
      [
        "alice",
        "diabetes",
        { kind: "count", dataset: "patients", groupBy: ["patient_id"] },
        /analysis refused: groupBy\[0\].*identifier/,
      ],
      [
        "alice",
        "diabetes",
        {
          kind: "count",
          dataset: "patients",
          filters: [{ column: "sex", op: "eq", value: "x'; DROP TABLE patients; --" }],
        },
        /./,
      ],
    ];
    for (const [who, project, analysis, why] of cases.slice(0, 4)) {
      const taskId = await submit(who, project, "a", analysis);
      const child = await childSettles(taskId, "a", "rejected", who);
      expect(child.history.at(-1)!.reason).toMatch(why);
      expect(child.history.map((h) => h.state)).not.toContain("running");
    }
    // A hostile filter value is plain data: the task runs, and the table is still there with every row.
    const [who, project, analysis] = cases[4]!;
    const taskId = await submit(who, project, "a", analysis);
    await childSettles(taskId, "a", "outputs_pending_review", who);
    const count = await submit("alice", "diabetes", "a", { kind: "count", dataset: "patients" });
    await childSettles(count, "a", "outputs_pending_review");
    const airlock = await AirlockStore.open(jetstream(fed.leaves.get("a")!.ctrl));
    const [held] = await airlock.outputs((await airlock.task(count))!);
    const output = decodeOutput((await airlock.data(count, held!.outputId))!) as { cells: { n: number }[] };
    expect(output.cells[0]!.n).toBe(rows.length);
  });

  it("submit --wait and watch end with each TRE's own reason for refusing, and what to do", async () => {
    const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
    await writeFile(file, JSON.stringify({ kind: "count", dataset: "patients", groupBy: ["postcode"] }));
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a,b", file, "--wait"], "alice");
    expect(r.code).toBe(1);
    const taskId = r.out[0]!;
    const because = (tre: string) =>
      `${tre} rejected: analysis refused: groupBy[0]: 'postcode' is not an allowed column of dataset 'patients'`;
    const advice = `fix the analysis and submit again; \`tremesh status ${taskId}\` shows each TRE's history`;
    expect(r.err.slice(-3)).toEqual([because("a"), because("b"), advice]);
    const watched = await fed.cli(["watch", taskId], "alice");
    expect(watched.code).toBe(1);
    expect(watched.err).toEqual([because("a"), because("b"), advice]);
  });

  it("stops a running task when the researcher cancels it, and drops its database role", async () => {
    const taskId = await submit("alice", "diabetes", "b", {
      kind: "summary",
      dataset: "slow_patients",
      column: "bmi",
    });
    await childSettles(taskId, "b", "running");
    const r = await fed.cli(["cancel", taskId, "--reason", "took too long"], "alice");
    expect(r.out).toEqual(["cancel sent to b"]);
    const child = await childSettles(taskId, "b", "cancelled");
    expect(child.history.map((h) => h.state)).toEqual([
      "queued",
      "received",
      "accepted",
      "running",
      "cancel_requested",
      "cancelled",
    ]);
    expect(child.history.at(-1)).toMatchObject({
      actor: "tre:b/agent",
      reason: "cancelled while running; nothing was kept",
    });
    await waitFor("b's per-task role to be dropped", async () => (await taskRoles()).length === 0);
  });

  it("ends a task in a terminal state, never run twice, when its TRE's agent is killed mid-task", async () => {
    await fed.stopLeaf("b");
    // The leaf as an operator runs it, in its own process group, so a kill takes its nats-server too.
    const child: ChildProcess = spawn(
      process.execPath,
      [join(ROOT, "bin", "tremesh.mjs"), "leaf", "start", "--config", fed.files.leafConfigs.b!],
      {
        detached: true,
        stdio: "ignore",
      },
    );
    try {
      await fed.waitForLink("b");
      const taskId = await submit("alice", "diabetes", "b", {
        kind: "summary",
        dataset: "slow_patients",
        column: "bmi",
      });
      await childSettles(taskId, "b", "running");
      await waitFor("b's per-task role", async () => (await taskRoles()).length === 1);
      process.kill(-child.pid!, "SIGKILL");
      await new Promise((resolve) => child.once("exit", resolve));

      const restarted = await fed.startLeaf("b");
      const ended = await childSettles(taskId, "b", "executor_error");
      expect(ended.history.at(-1)!.reason).toBe(
        "the agent restarted while this task ran; it is not run again",
      );
      expect(ended.history.filter((h) => h.state === "running")).toHaveLength(1);
      expect(await taskRoles()).toEqual([]); // swept at start-up
      const record = await (await AgentState.open(jetstream(restarted.ctrl))).get(taskId);
      expect(record?.history.filter((h) => h.state === "running")).toHaveLength(1);
      expect(record?.state).toBe("executor_error");
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
    }
  });
});
