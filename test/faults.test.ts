/**
 * The fault suite of a single-node hub (issue 9; the 3-node hub losing its stream leader is
 * test/hub-cluster.test.ts). Each scenario runs under load — tens to hundreds of tasks in flight over three
 * TREs — and then accounts for every task:
 *
 * - none lost: each has ended at every TRE it named: released, or `executor_error` / `cancelled` with its reason
 *   (never `executor_error` for an agent restart: the task runs again),
 *   and every status event a TRE stored in its OUTBOX is in the hub's `TRE_RESULTS`, once;
 * - none run more than its attempts: one Dispatch per task in the TRE's INBOX; a task runs once, or again as its
 *   next attempt only when an agent restart interrupted it (leaf.yaml `maxTaskAttempts`), each attempt after the
 *   first a signed `accepted` status event and an audit record naming it; no more `task.running` (written before
 *   an executor may start) in the TRE's hash-chained audit log (verified intact first), `running` in the hub's
 *   history, or `airlock.held` (written for a run's outputs) than the agent's record has runs, no more runs than
 *   attempts, and, at the PostgreSQL TRE, no more logins of the task's own role in PostgreSQL's server log (at
 *   least one when it was released) than runs: the database's word, not the agent's;
 * - none released twice: exactly one Release per task and TRE stored in the leaf's OUTBOX and in the hub's
 *   `TRE_RESULTS`, one `release.received` in the hub's audit chain and one Release in the researcher's fetch (none
 *   at all for a task not released there);
 * - every combined answer is exact: equal to the statistic computed on the union of the releasing TREs' rows.
 *
 * The checks wait until the hub has handled everything the TREs sent, so the hub's history is complete too.
 *
 * TREs: a (a DuckDB file), b (PostgreSQL; every scan of its `patients` waits in pg_sleep, so tasks stay in flight
 * long enough to be hit), c (CSV). Rounding and suppression are off and auto-release is on, so answers compare
 * exactly and nothing waits for a reviewer. The killed agent runs as `tremesh leaf start` from dist/: build first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectResults, fetchReleases, toJson } from "../aggregator/index.js";
import { WaitTimeoutError, waitFor } from "../common/index.js";
import {
  generatePatients,
  type PatientRow,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
  writePatientsDuckDb,
  writePatientsPostgres,
} from "../fixtures/index.js";
import { AgentState } from "../leaf/agent-state.js";
import { type AnalysisSpec, type ChildState, isTerminal, streams, subjects } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { duckDbFileFree } from "./harness/executor-conformance.js";
import { auditRecords, countBy, loginsByRole, messagesPerSubject } from "./harness/fault-evidence.js";
import { approveProject, type Federation, startFederation } from "./harness/federation.js";
import { type PostgresHandle, startPostgres } from "./harness/postgres.js";
import { referenceOutput } from "./harness/reference-stats.js";
import { type LoadTask, TaskLoad } from "./harness/task-load.js";
import { uniqueToken } from "./harness/unique.js";

const ROOT = join(import.meta.dirname, "..");
const TRES = ["a", "b", "c"] as const;
type Tre = (typeof TRES)[number];
const rows: Record<Tre, PatientRow[]> = {
  a: generatePatients(patientProfiles.north, 901),
  b: generatePatients(patientProfiles.south, 902),
  c: generatePatients(patientProfiles.small, 903),
};
const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };
const rolePrefix = `tf_${uniqueToken()}_`;
/** TRE b's budget per task: what ends the stuck one. */
const TASK_TIMEOUT_MS = 10_000;
/** How long each scan of b's `patients` waits, in seconds: b's tasks take 0.25–0.5 s. */
const PACE_S = 0.25;
/** How long each scan of b's `slow_patients` waits, in seconds: slow, but well within the budget. */
const SLOW_S = 3;

/** The hub's status tracker's durable consumer on TRE_RESULTS (hub/status-tracker.ts). */
const HUB_STATUS_CONSUMER = "hub-status";

const TIMED_OUT = `the analysis did not finish within ${TASK_TIMEOUT_MS} ms`;
const CANCELLED = "cancelled while running; nothing was kept";

type Outcome = { state: "released" } | { state: "executor_error" | "cancelled"; reason: string };
const RELEASED: Outcome = { state: "released" };

let pg: PostgresHandle;
let fed: Federation;
let load: TaskLoad;
const children = new Set<ChildProcess>();

/** Task `i` of a load: every kind of analysis in turn, each over a different age range so no two answers agree. */
function analysisAt(i: number): AnalysisSpec {
  const filters = [{ column: "age", op: "ge" as const, value: 20 + (i % 40) }];
  switch (i % 5) {
    case 0:
      return { kind: "count", dataset: "patients", groupBy: ["sex"], filters };
    case 1:
      return { kind: "summary", dataset: "patients", column: "cholesterol", groupBy: ["smoker"], filters };
    case 2:
      return {
        kind: "histogram",
        dataset: "patients",
        column: "systolic_bp",
        bins: { min: 90, max: 190, count: 10 },
        filters,
      };
    case 3:
      return { kind: "crosstab", dataset: "patients", rows: "sex", cols: "diabetes", filters };
    default:
      return {
        kind: "regression",
        dataset: "patients",
        outcome: "cholesterol",
        predictors: ["age", "bmi"],
        filters,
      };
  }
}

const everywhere = (i: number) => ({ tres: [...TRES], analysis: analysisAt(i) });

/** What each TRE's agent says of each task, as it says it (its events in-process, its log as a process). */
const leafStates = new Map<string, Map<string, ChildState>>(TRES.map((t) => [t, new Map()]));

/** Checks run after each state a TRE's agent reports (`midway`), so none of its states goes unseen between polls. */
const onLeafState = new Set<() => void>();

function noteLeafState(tre: string, taskId: string, state: ChildState): void {
  leafStates.get(tre)?.set(taskId, state);
  for (const check of onLeafState) check();
}

/**
 * TRE `tre`'s leaf as its operator runs it, `tremesh leaf start`, in its own process group (its nats-server too).
 * Its log (one JSON line per event, on stdout) feeds `leafStates`.
 */
function spawnLeaf(tre: Tre): ChildProcess {
  const child = spawn(
    process.execPath,
    [join(ROOT, "bin", "tremesh.mjs"), "leaf", "start", "--config", fed.files.leafConfigs[tre]!],
    { detached: true, stdio: ["ignore", "pipe", "inherit"] },
  );
  children.add(child);
  child.once("exit", () => children.delete(child));
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (!line.includes('"msg":"agent task"')) return;
    const e = JSON.parse(line) as { taskId: string; state: ChildState };
    noteLeafState(tre, e.taskId, e.state);
  });
  return child;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** kill -9 of the leaf's whole process group; resolves once it is gone and its client port is free again. */
async function killLeaf(child: ChildProcess, tre: Tre): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  if (child.exitCode === null && child.signalCode === null) {
    process.kill(-child.pid!, "SIGKILL");
    await exited;
  }
  const port = Number(new URL(fed.files.leafClientUrls[tre]!).port);
  await waitFor(`TRE ${tre}'s client port to be free`, () => canListen(port));
}

/** Counts of the tasks' states at `tre`, as its agent reports them (the hub's view lags behind under load). */
function statesAt(tasks: readonly LoadTask[], tre: Tre) {
  const states = tasks.map((t) => leafStates.get(tre)?.get(t.taskId));
  return {
    ended: states.filter((s) => s !== undefined && isTerminal(s)).length,
    running: states.filter((s) => s === "running").length,
    waiting: states.filter((s) => s === undefined || s === "received" || s === "accepted").length,
  };
}

/**
 * Waits until at least `ended` tasks have ended at `tre`; with `inFlight`, while others still run there and
 * others wait to start (so a fault now hits both). Returns the counts then.
 */
async function midway(
  tasks: readonly LoadTask[],
  tre: Tre,
  ended: number,
  { inFlight = true }: { inFlight?: boolean } = {},
): Promise<ReturnType<typeof statesAt>> {
  const what = `${ended} tasks ended at ${tre}${inFlight ? ", with others running and waiting" : ""}`;
  const reached = () => {
    const now = statesAt(tasks, tre);
    return now.ended >= ended && (!inFlight || (now.running > 0 && now.waiting > 0)) ? now : undefined;
  };
  // Checked at each state the agent reports, not by polling: its log lines can arrive many at once on a busy
  // machine, and a task's run lasts a few ms, so a poll could miss every moment a task was running.
  return new Promise((resolve, reject) => {
    const done = (result: ReturnType<typeof statesAt> | Error) => {
      onLeafState.delete(check);
      clearTimeout(timer);
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const check = () => {
      const now = reached();
      if (now) done(now);
    };
    const timer = setTimeout(() => {
      // What the agent had reported by then, each task's last state counted: what the wait never saw.
      const seen: Record<string, number> = {};
      for (const t of tasks) {
        const state = leafStates.get(tre)?.get(t.taskId) ?? "nothing yet";
        seen[state] = (seen[state] ?? 0) + 1;
      }
      done(new WaitTimeoutError(`${what} (at ${tre} then: ${JSON.stringify(seen)})`, 60_000));
    }, 60_000);
    onLeafState.add(check);
    check();
  });
}

/**
 * The checks every scenario ends with (see the file's header), for tasks that have all ended. `outcomes` says what
 * each TRE may end a task with. Returns how many ended in each state at each TRE (`"b:released"`).
 */
async function expectAccountedFor(
  tasks: readonly LoadTask[],
  outcomes: (task: LoadTask, tre: Tre) => readonly Outcome[],
): Promise<Record<string, number>> {
  // The hub has handled everything the TREs sent once its view's sources and its status consumer have nothing
  // pending. After a hub restart that includes the events it had read but not acknowledged: the server delivers
  // them again only when their ack wait (30 s) runs out.
  const hub = fed.hub.services;
  await waitFor(
    "the hub to have handled everything the TREs sent",
    async () => {
      const info = await hub.jsm.streams.info(streams.fedResults);
      const status = await hub.jsm.consumers.info(streams.fedResults, HUB_STATUS_CONSUMER);
      return (
        (info.sources ?? []).every((s) => s.lag === 0 && s.error === undefined) &&
        status.num_pending === 0 &&
        status.num_ack_pending === 0
      );
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  const views = new Map((await load.views(tasks)).map((v) => [v.taskId, v]));
  const hubReleases = await messagesPerSubject(hub.jsm, streams.fedResults, subjects.allReleases);
  const hubStatus = await messagesPerSubject(hub.jsm, streams.fedResults, subjects.allStatus);
  const received = countBy(await auditRecords(hub.js), "release.received", (r) => `${r.taskId}.${r.tre}`);
  const logins = loginsByRole(await pg.readLog(), rolePrefix);
  const evidence = new Map<
    Tre,
    {
      state: AgentState;
      inbox: Map<string, number>;
      runs: Map<string, number>;
      held: Map<string, number>;
      retries: Map<string, number>;
      outbox: Map<string, number>;
      outboxStatus: Map<string, number>;
    }
  >();
  for (const tre of TRES) {
    const leaf = fed.leaves.get(tre);
    if (!leaf) throw new Error(`TRE ${tre}'s leaf is not running here`);
    const audit = await auditRecords(jetstream(leaf.ctrl));
    evidence.set(tre, {
      state: await AgentState.open(jetstream(leaf.ctrl)),
      inbox: await messagesPerSubject(leaf.dmzJsm, streams.inbox, subjects.treInbound(tre)),
      runs: countBy(audit, "task.running"),
      held: countBy(audit, "airlock.held"),
      retries: countBy(audit, "task.accepted", (r) =>
        r.details?.attempt === undefined ? undefined : `${r.taskId}.${r.details.attempt}`,
      ),
      outbox: await messagesPerSubject(leaf.dmzJsm, streams.outbox, subjects.outboxFilters(tre)[1]!),
      outboxStatus: await messagesPerSubject(leaf.dmzJsm, streams.outbox, subjects.outboxFilters(tre)[0]!),
    });
  }

  const tally: Record<string, number> = {};
  const nc = await load.connection();
  const key = await load.key();
  for (const task of tasks) {
    const view = views.get(task.taskId);
    expect(view, `task ${task.taskId}`).toBeDefined();
    const releasedAt: Tre[] = [];
    for (const tre of task.tres as Tre[]) {
      const at = `task ${task.taskId} at ${tre}`;
      const child = view!.children.find((c) => c.tre === tre);
      expect(child && isTerminal(child.state), `${at} has ended`).toBe(true);
      const last = child!.history.at(-1)!;
      const fits = outcomes(task, tre).some(
        (o) => o.state === child!.state && (o.state === "released" || o.reason === last.reason),
      );
      expect(fits, `${at} ended ${child!.state}: ${last.reason ?? ""}`).toBe(true);
      tally[`${tre}:${child!.state}`] = (tally[`${tre}:${child!.state}`] ?? 0) + 1;
      const released = child!.state === "released";
      if (released) releasedAt.push(tre);

      // Delivered to the TRE once; run at most once (exactly once when released), by every record of a run.
      const e = evidence.get(tre)!;
      expect(e.inbox.get(subjects.dispatch(tre, task.taskId)), `${at}: Dispatches in INBOX`).toBe(1);
      const record = await e.state.get(task.taskId);
      expect(record?.state, `${at}: the agent's record`).toBe(child!.state);
      // Runs: one per attempt at most, each attempt after the first announced and audited as such.
      const attempt = record!.attempt ?? 1;
      expect(child!.attempt ?? 1, `${at}: the attempt at the hub`).toBe(attempt);
      const agentRuns = record!.history.filter((h) => h.state === "running").length;
      expect(agentRuns, `${at}: runs in the agent's record`).toBeLessThanOrEqual(attempt);
      const runs = [
        child!.history.filter((h) => h.state === "running").length,
        e.runs.get(task.taskId) ?? 0,
        e.held.get(task.taskId) ?? 0,
        ...(tre === "b" ? [logins.get(`${rolePrefix}${task.taskId.toLowerCase()}`) ?? 0] : []),
      ];
      for (const n of runs)
        expect(n, `${at}: runs in hub, audit, airlock, PostgreSQL`).toBeLessThanOrEqual(agentRuns);
      if (released)
        expect(
          runs.every((n) => n >= 1),
          `${at}: a run behind its Release`,
        ).toBe(true);
      for (let k = 2; k <= attempt; k++) {
        expect(
          child!.history.some((h) => h.state === "accepted" && h.attempt === k),
          `${at}: attempt ${k} announced`,
        ).toBe(true);
        expect(e.retries.get(`${task.taskId}.${k}`), `${at}: attempt ${k} audited`).toBeGreaterThanOrEqual(1);
      }
      if (attempt > 1) tally[`${tre}:retried`] = (tally[`${tre}:retried`] ?? 0) + 1;

      // Every status event the TRE sent reached the hub, once.
      const events = subjects.status(tre, task.taskId);
      expect(hubStatus.get(events) ?? 0, `${at}: status events at the hub`).toBe(
        e.outboxStatus.get(events) ?? 0,
      );
      // Released exactly once, or not at all.
      const once = released ? 1 : 0;
      const subject = subjects.release(tre, task.taskId);
      expect(e.outbox.get(subject) ?? 0, `${at}: Releases in OUTBOX`).toBe(once);
      expect(hubReleases.get(subject) ?? 0, `${at}: Releases in the hub's TRE_RESULTS`).toBe(once);
      expect(received.get(`${task.taskId}.${tre}`) ?? 0, `${at}: release.received at the hub`).toBe(once);
    }

    // The researcher's side: one verified Release per releasing TRE, combined exactly.
    const fetched = await fetchReleases(nc, key, task.taskId);
    expect(fetched.map((r) => r.tre).sort(), `task ${task.taskId}: Releases fetched`).toEqual(
      [...releasedAt].sort(),
    );
    if (releasedAt.length === 0) continue;
    const results = await collectResults(nc, key, task.taskId, fed.files.trePublicKeys);
    expect(results.excluded).toEqual([]);
    expect(results.combined).toHaveLength(1);
    const truth = referenceOutput(
      task.analysis as never,
      releasedAt.flatMap((tre) => rows[tre]),
    );
    const combined = JSON.parse(toJson(results.combined[0]!.result!)) as Record<string, unknown>;
    expect(expectMatchesTruth(combined, truth, { exact: true })).toBeGreaterThan(0);
  }
  return tally;
}

function seconds(since: number): string {
  return ((Date.now() - since) / 1000).toFixed(1);
}

beforeAll(async () => {
  pg = await startPostgres();
  const admin = await pg.connectAdmin();
  await writePatientsPostgres(admin, rows.b);
  await admin.query(`CREATE VIEW patients_paced AS SELECT p.* FROM patients p, pg_sleep(${PACE_S})`);
  await admin.query(`CREATE VIEW patients_slow AS SELECT p.* FROM patients p, pg_sleep(${SLOW_S})`);
  await admin.query("CREATE TABLE patients_locked AS SELECT * FROM patients");
  // The server's own record of every login: the count of runs no agent bookkeeping can bend.
  await admin.query("ALTER SYSTEM SET log_connections = on");
  await admin.query("SELECT pg_reload_conf()");
  await admin.end();
  await waitFor("PostgreSQL to log logins", async () => {
    await (await pg.connectAdmin()).end();
    return /connection authorized: user=/.test(await pg.readLog());
  });

  const analyses = ["count", "summary", "histogram", "crosstab", "regression"];
  const pgDataset = (name: string, table: string) => ({
    name,
    engine: "postgres",
    schema: "public",
    table,
    ...allow,
  });
  fed = await startFederation({
    tres: [...TRES],
    researchers: ["alice"],
    startLeaves: [],
    onLeafEvent: (tre, e) => {
      if (e.type !== "agent") return;
      if (e.event.type === "task") noteLeafState(tre, e.event.taskId, e.event.state);
      // An agent's own failure is never expected here; say what it was, as its operator's log would.
      if (e.event.type === "error")
        console.error(`[faults] agent ${tre}:`, e.event.taskId ?? "", e.event.error);
    },
    leafExtra: (tre) => ({
      ...(tre === "a"
        ? {
            datasets: [
              {
                name: "patients",
                engine: "duckdb",
                path: "./patients-a.duckdb",
                table: "patients",
                ...allow,
              },
            ],
          }
        : tre === "c"
          ? { datasets: [{ name: "patients", engine: "csv", path: "./patients-c.csv", ...allow }] }
          : {
              datasets: [
                pgDataset("patients", "patients_paced"),
                pgDataset("slow_patients", "patients_slow"),
                pgDataset("stuck_patients", "patients_locked"),
              ],
              postgres: {
                host: pg.host,
                port: pg.port,
                database: pg.database,
                user: pg.adminUser,
                passwordFile: "./secrets/pg-admin.password",
                rolePrefix,
              },
              taskTimeoutMs: TASK_TIMEOUT_MS,
              maxConcurrentTasks: 6,
            }),
      projects: [
        {
          name: "diabetes",
          researchers: ["alice"],
          analyses,
          datasets: tre === "b" ? ["patients", "slow_patients", "stuck_patients"] : ["patients"],
        },
      ],
      // Nothing rounded, withheld or held for a reviewer: every answer compares exactly.
      disclosure: {
        minCellCount: 1,
        roundingBase: 1,
        dominance: { n: 5, k: 1 },
        minResidualDf: 0,
        zerosDisclosive: false,
      },
      review: { autoRelease: true },
    }),
  });
  await writePatientsDuckDb(rows.a, join(fed.files.dir, "patients-a.duckdb"));
  await writePatientsCsv(rows.c, join(fed.files.dir, "patients-c.csv"));
  await writeFile(join(fed.files.dir, "secrets", "pg-admin.password"), `${pg.adminPassword}\n`, {
    mode: 0o600,
  });
  for (const tre of TRES) await fed.startLeaf(tre);
  await approveProject(fed, { project: "diabetes", tres: [...TRES], members: ["alice"] });
  load = new TaskLoad(fed, "alice", "diabetes");
}, 120_000);

afterAll(async () => {
  for (const child of children) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await fed?.[Symbol.asyncDispose]();
  await pg?.stop();
});

describe("faults under load, single-node hub", () => {
  it("releases every task once when a TRE's agent is killed with SIGKILL twice mid-load, running interrupted ones again", async () => {
    const t0 = Date.now();
    await fed.stopLeaf("b");
    // Submitted while b's leaf is down, so that b meets them as a backlog: an agent that kept pace with the
    // submissions (a machine whose hub answers slowly) would leave no moment with some running and others queued.
    const tasks = await load.submit(40, everywhere);
    let leaf = spawnLeaf("b");
    try {
      await fed.waitForLink("b");
      // Killed with tasks running and others still queued at b; then again while the restarted agent catches up.
      const first = await midway(tasks, "b", 8);
      await killLeaf(leaf, "b");
      leaf = spawnLeaf("b");
      // Past the tasks the first agent ended, and a few more run by the new agent (some of them again), while some
      // are still to run: on a busy machine the first kill may come late, so at most half of those left. A run
      // takes a few ms now, so this kill does not wait to see one running (the first one did).
      const left = tasks.length - first.ended;
      const second = await midway(
        tasks,
        "b",
        first.ended + Math.min(first.running + 4, Math.floor(left / 2)),
        { inFlight: false },
      );
      await killLeaf(leaf, "b");
      await fed.startLeaf("b");

      await load.waitUntilEnded(tasks, 90_000).catch((error: unknown) => {
        // What b's agents last said of the tasks they did not release (the third agent's lines are not read).
        const said = tasks
          .map((t) => [t.taskId, leafStates.get("b")?.get(t.taskId)])
          .filter(([, state]) => state !== "released");
        throw new Error(`${String(error)}; b's first two agents last said: ${JSON.stringify(said)}`);
      });
      // Every task is released at every TRE, once: a run the kills interrupted ran again as its next attempt.
      const tally = await expectAccountedFor(tasks, () => [RELEASED]);
      expect(tally["b:released"]).toBe(tasks.length);
      // The kills did catch tasks mid-run.
      expect(tally["b:retried"] ?? 0).toBeGreaterThan(0);
      console.log(
        `[faults] agent kill -9 ×2 (at b: ${JSON.stringify(first)}, then ${JSON.stringify(second)}): ` +
          `${tasks.length} tasks × 3 TREs in ${seconds(t0)} s; ${JSON.stringify(tally)}`,
      );
    } finally {
      if (leaf.exitCode === null && leaf.signalCode === null) await killLeaf(leaf, "b");
      if (!fed.leaves.has("b")) await fed.startLeaf("b");
    }
  }, 180_000);

  it("works through a backlog of hundreds of tasks that built up while its TRE was offline, each once", async () => {
    const t0 = Date.now();
    await fed.stopLeaf("c");
    const tasks = await load.submit(240, (i) => ({
      tres: i % 8 === 0 ? [...TRES] : ["c"],
      analysis: analysisAt(i),
    }));
    // While c is away, a and b finish their part of the shared tasks; c's part waits, queued at the hub.
    const shared = tasks.filter((t) => t.tres.length > 1);
    await load.waitUntilEnded(
      shared.map((t) => ({ ...t, tres: ["a", "b"] })),
      60_000,
    );
    const whileAway = await load.views(tasks);
    expect(whileAway.every((v) => v.children.find((c) => c.tre === "c")?.state === "queued")).toBe(true);

    const back = Date.now();
    await fed.startLeaf("c");
    await load.waitUntilEnded(tasks, 150_000);
    const drained = seconds(back);
    const tally = await expectAccountedFor(tasks, () => [RELEASED]);
    expect(tally["c:released"]).toBe(tasks.length);
    console.log(
      `[faults] leaf offline: ${tasks.length} tasks queued for c (${shared.length} also for a and b); ` +
        `c drained its backlog in ${drained} s; whole test ${seconds(t0)} s; ${JSON.stringify(tally)}`,
    );
  }, 240_000);

  it("loses and repeats nothing when the hub is killed with SIGKILL, and then restarted, with tasks and submissions in flight", async () => {
    const t0 = Date.now();
    const retriesBefore = load.retries;
    const first = await load.submit(24, everywhere);
    await midway(first, "b", 4);
    // Submissions on their way as the hub dies: those it did not answer are sent again, the same envelope.
    const arriving = load.submit(12, (i) => everywhere(i + 24));
    await fed.restartHub({ kill: true });
    const second = await arriving;
    await midway([...first, ...second], "b", 30, { inFlight: false });
    const arriving2 = load.submit(12, (i) => everywhere(i + 36));
    await fed.restartHub();
    const third = await arriving2;

    const tasks = [...first, ...second, ...third];
    expect(new Set(tasks.map((t) => t.taskId)).size).toBe(tasks.length);
    await load.waitUntilEnded(tasks, 90_000);
    const tally = await expectAccountedFor(tasks, () => [RELEASED]);
    for (const tre of TRES) expect(tally[`${tre}:released`]).toBe(tasks.length);
    console.log(
      `[faults] hub kill -9 then restart: ${tasks.length} tasks × 3 TREs in ${seconds(t0)} s ` +
        `(${load.retries - retriesBefore} submission attempts repeated); ${JSON.stringify(tally)}`,
    );
  }, 180_000);

  it("ends a stuck task by its timeout and another by cancel, with their reasons, while a slow one and the load flow past", async () => {
    const t0 = Date.now();
    const locker = await pg.connectAdmin();
    // Another session looks on: the locker's own transaction would see one cached snapshot of pg_stat_activity.
    const observer = await pg.connectAdmin();
    await locker.query("BEGIN");
    await locker.query("LOCK TABLE patients_locked IN ACCESS EXCLUSIVE MODE");
    try {
      const count = (dataset: string): AnalysisSpec => ({ kind: "count", dataset, groupBy: ["sex"] });
      const [stuck, cancelled, slow] = await load.submit(3, (i) => ({
        tres: ["b"],
        analysis: count(["stuck_patients", "stuck_patients", "slow_patients"][i]!),
      }));
      const roles = [stuck!, cancelled!].map((t) => `${rolePrefix}${t.taskId.toLowerCase()}`);
      await waitFor("both stuck tasks to wait on the lock inside PostgreSQL", async () => {
        const r = await observer.query<{ usename: string }>(
          "SELECT usename FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND usename = ANY($1)",
          [roles],
        );
        return r.rowCount === 2;
      });

      const tasks = await load.submit(24, (i) => ({
        tres: i % 2 === 0 ? [...TRES] : ["a", "c"],
        analysis: analysisAt(i + 48),
      }));
      const sent = await fed.cli(["cancel", cancelled!.taskId, "--reason", "stuck on a lock"], "alice");
      expect(sent.out).toEqual(["cancel sent to b"]);
      // Everything else ends while the stuck task holds its slot, waiting on the lock (held until this test ends).
      await load.waitUntilEnded([...tasks, cancelled!, slow!], 60_000);
      const flowed = seconds(t0);

      await load.waitUntilEnded([stuck!], TASK_TIMEOUT_MS + 20_000);
      const tally = await expectAccountedFor([...tasks, stuck!, cancelled!, slow!], (task) =>
        task === stuck
          ? [{ state: "executor_error", reason: TIMED_OUT }]
          : task === cancelled
            ? [{ state: "cancelled", reason: CANCELLED }]
            : [RELEASED],
      );
      // The stuck one ran for its whole budget: ended by its timeout, never sooner (on a busy machine the others may
      // take longer than that budget, so when they end says nothing about it).
      const stuckRun = (await load.views([stuck!]))[0]!.children[0]!.history;
      const stuckAt = (s: string) => stuckRun.find((h) => h.state === s)!.at;
      expect(stuckAt("executor_error") - stuckAt("running")).toBeGreaterThanOrEqual(TASK_TIMEOUT_MS);
      // The slow one really took its time: it was let run, not cut short.
      const slowRun = (await load.views([slow!]))[0]!.children[0]!.history;
      const ranFor = (s: string) => slowRun.find((h) => h.state === s)!.at;
      expect(ranFor("outputs_pending_review") - ranFor("running")).toBeGreaterThanOrEqual(SLOW_S * 1000);
      // No session and no role of any task is left behind in the database.
      const left = await observer.query(
        "SELECT 1 FROM pg_roles WHERE starts_with(rolname, $1) UNION ALL SELECT 1 FROM pg_stat_activity WHERE starts_with(usename, $1)",
        [rolePrefix],
      );
      expect(left.rowCount).toBe(0);
      console.log(
        `[faults] stuck + slow executors: ${tasks.length} tasks flowed past within ${flowed} s; the stuck one ended ` +
          `after ${seconds(t0)} s; ${JSON.stringify(tally)}`,
      );
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      await Promise.all([locker.end(), observer.end()]);
    }
  }, 120_000);

  it("keeps TRE a's DuckDB file open after a task, for the next (leaf.yaml datasetKeepOpenMs), and lets it go when the leaf stops", async () => {
    const path = join(fed.files.dir, "patients-a.duckdb");
    const tasks = await load.submit(1, () => ({ tres: ["a"], analysis: analysisAt(0) }));
    await load.waitUntilEnded(tasks, 60_000);
    // Held past the 2 s the executor's own default keeps it: a busy machine spaces queries out further than that.
    await sleep(3_000);
    expect(await duckDbFileFree(path), "the file, held 3 s after the task").toBe(false);
    await fed.stopLeaf("a");
    try {
      expect(await duckDbFileFree(path), "the file, once a's leaf stopped").toBe(true);
    } finally {
      await fed.startLeaf("a");
    }
  }, 90_000);
});
