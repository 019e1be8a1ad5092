import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog } from "../audit/index.js";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, SYNTHETIC_PATIENT_COLUMNS } from "../fixtures/index.js";
import { AgentState } from "../leaf/agent-state.js";
import { AirlockStore } from "../leaf/airlock-store.js";
import { LEAF_DEFAULTS } from "../leaf/leaf-defaults.js";
import { DAY_MS, forgetEndedTasks } from "../leaf/task-retention.js";
import { type AnalysisSpec, decodeOutput, type TaskView } from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
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
/** TRE b's wait before a task's second run after a retryable failure (doubled before the third). */
const RETRY_BACKOFF_MS = 300;

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

/** The task's transitions in TRE `tre`'s audit log: the step each ends at, and the details it gives. */
async function auditedTransitions(tre: string, taskId: string) {
  const records = await auditRecords(jetstream(fed.leaves.get(tre)!.ctrl));
  return records
    .filter((r) => r.taskId === taskId && r.action.startsWith("task."))
    .map((r) => ({ action: r.action, details: r.details }));
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
            retryBackoffMs: RETRY_BACKOFF_MS,
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
      // One audit record per transition: the claim's three steps, taken at once, are one.
      expect(await auditedTransitions(tre, taskId)).toEqual([
        {
          action: "task.running",
          details: {
            passed: "received,accepted",
            received: "dispatch verified against the pinned hub key",
            accepted: "approved by this TRE for project diabetes",
          },
        },
        { action: "task.outputs_pending_review", details: expect.anything() },
      ]);

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
      expect(await auditedTransitions("a", taskId)).toEqual([
        {
          action: "task.rejected",
          details: {
            reason: child.history.at(-1)!.reason,
            passed: "received",
            received: "dispatch verified against the pinned hub key",
          },
        },
      ]);
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
    // Refused as an analysis by both TREs: only the analysis can change.
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
    expect(r.err).toEqual([
      `each TRE stops the task once the cancel reaches it (one that is offline, when it next links); \`tremesh watch ${taskId}\` follows it`,
    ]);
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

  it("runs a task again, after a back-off, when PostgreSQL drops its connection, until its attempts are used up", async () => {
    const taskId = await submit("alice", "diabetes", "b", {
      kind: "summary",
      dataset: "slow_patients",
      column: "bmi",
    });
    const admin = await engines.pg.connectAdmin();
    try {
      for (const attempt of [1, 2, 3]) {
        await waitFor(`b to run attempt ${attempt}`, async () =>
          (await view(taskId)).children.find(
            (c) => c.tre === "b" && c.state === "running" && (c.attempt ?? 1) === attempt,
          ),
        );
        // The database's administrator ends the run's session (SQLSTATE 57P01): worth another try.
        await waitFor(`attempt ${attempt}'s session ended`, async () => {
          const r = await admin.query<{ ended: boolean }>(
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE starts_with(usename, $1)",
            [rolePrefix],
          );
          return r.rows.some((x) => x.ended);
        });
      }
    } finally {
      await admin.end();
    }
    const ended = await childSettles(taskId, "b", "executor_error");
    expect(ended.attempt).toBe(3);
    // The session's end reaches the run as the server's reason (57P01) or, when the connection closes first, as a lost
    // connection (08006): the same fault, and either is tried again.
    const steps = ended.history.map((h) => [
      h.state,
      h.attempt ?? 1,
      h.reason?.replace("(08006)", "(57P01)"),
    ]);
    const failed = "attempt 1 of 3 failed: PostgreSQL could not run the analysis (57P01)";
    expect(steps.slice(3)).toEqual([
      ["running", 1, undefined],
      ["accepted", 2, `${failed}; attempt 2 follows in ${RETRY_BACKOFF_MS} ms`],
      ["running", 2, undefined],
      [
        "accepted",
        3,
        `${failed.replace("1 of 3", "2 of 3")}; attempt 3 follows in ${2 * RETRY_BACKOFF_MS} ms`,
      ],
      ["running", 3, undefined],
      ["executor_error", 3, "PostgreSQL could not run the analysis (57P01) (attempt 3 of 3)"],
    ]);
    // Each next run waited out its back-off.
    const at = (state: string, attempt: number) =>
      ended.history.find((h) => h.state === state && (h.attempt ?? 1) === attempt)!.at;
    expect(at("running", 2) - at("accepted", 2)).toBeGreaterThanOrEqual(RETRY_BACKOFF_MS);
    expect(at("running", 3) - at("accepted", 3)).toBeGreaterThanOrEqual(2 * RETRY_BACKOFF_MS);
    await waitFor("b's per-task role to be dropped", async () => (await taskRoles()).length === 0);
  });

  it("never runs an analysis the executor refuses again", async () => {
    const taskId = await submit("alice", "diabetes", "b", {
      kind: "count",
      dataset: "patients",
      // Admitted (the column is allowed), refused by the executor against the table itself.
      filters: [{ column: "sex", op: "eq", value: 1 }],
    });
    const ended = await childSettles(taskId, "b", "executor_error");
    expect(ended.attempt).toBeUndefined();
    expect(ended.history.filter((h) => h.state === "running")).toHaveLength(1);
    expect(ended.history.at(-1)!.reason).toBe(
      "filters[0].value: 'sex' holds text values; expected a string, got number",
    );
  });

  it("runs a task caught mid-run by an agent kill again as its next attempt, with a fresh role, and a cancel still ends it", async () => {
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
      // The second attempt runs, under a role made for it after the first one's was swept.
      const second = await waitFor(
        "b to run attempt 2",
        async () =>
          (await view(taskId)).children.find(
            (c) => c.tre === "b" && c.attempt === 2 && c.state === "running",
          ),
        { timeoutMs: 30_000 },
      );
      expect(second.history.map((h) => [h.state, h.attempt ?? 1])).toEqual([
        ["queued", 1],
        ["received", 1],
        ["accepted", 1],
        ["running", 1],
        ["accepted", 2],
        ["running", 2],
      ]);
      expect(second.history[4]!.reason).toBe(
        "the agent restarted while attempt 1 of 3 ran; nothing of it was kept; attempt 2 follows",
      );
      await waitFor("b's per-task role for attempt 2", async () => (await taskRoles()).length === 1);
      const state = await AgentState.open(jetstream(restarted.ctrl));
      expect((await state.get(taskId))?.attempt).toBe(2);

      // A cancel still wins over the resumed run.
      const r = await fed.cli(["cancel", taskId, "--reason", "enough"], "alice");
      expect(r.out).toEqual(["cancel sent to b"]);
      const ended = await childSettles(taskId, "b", "cancelled");
      expect(ended.attempt).toBe(2);
      expect(ended.history.at(-1)).toMatchObject({
        reason: "cancelled while running; nothing was kept",
        attempt: 2,
      });
      await waitFor("b's per-task role to be dropped", async () => (await taskRoles()).length === 0);
      const record = await state.get(taskId);
      expect(record?.history.filter((h) => h.state === "running")).toHaveLength(2);
      expect(record?.state).toBe("cancelled");
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, "SIGKILL");
    }
  });

  it("forgets a TRE's ended tasks once their retention has passed, and starts again and runs tasks without them", async () => {
    const refused = await submit("alice", "unapproved", "a", { kind: "count", dataset: "patients" });
    await childSettles(refused, "a", "rejected");
    const reviewing = await submit("alice", "diabetes", "a", { kind: "count", dataset: "patients" });
    await childSettles(reviewing, "a", "outputs_pending_review");

    // The agent's own connection, a hundred days on: what its sweep does then.
    const ctrlJs = jetstream(fed.leaves.get("a")!.ctrl);
    const state = await AgentState.open(ctrlJs);
    const store = await AirlockStore.open(ctrlJs);
    const gone = await forgetEndedTasks(await state.all(), {
      state,
      store,
      audit: new AuditLog(ctrlJs, { scope: "a" }),
      keepMs: LEAF_DEFAULTS.taskRetentionDays * DAY_MS,
      now: Date.now() + 100 * DAY_MS,
    });
    expect(gone).toContain(refused);
    expect(gone).not.toContain(reviewing);
    expect(await state.get(refused)).toBeUndefined();
    expect((await store.task(reviewing))?.taskId).toBe(reviewing);
    const forgotten = (await auditRecords(ctrlJs)).filter((r) => r.action === "tasks.forgotten");
    expect(forgotten.flatMap((r) => String(r.details?.tasks).split(","))).toEqual(gone);
    // The hub keeps the researcher's record of the task.
    expect((await view(refused)).children[0]?.state).toBe("rejected");

    await fed.stopLeaf("a");
    await fed.startLeaf("a");
    const after = await submit("alice", "diabetes", "a", { kind: "count", dataset: "patients" });
    await childSettles(after, "a", "outputs_pending_review");
    expect(
      (await AgentState.open(jetstream(fed.leaves.get("a")!.ctrl)).then((s) => s.get(reviewing)))?.state,
    ).toBe("outputs_pending_review");
  });
});
