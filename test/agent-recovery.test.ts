/**
 * What an agent restarted mid-task does with the tasks its previous run left `running`, on a real JetStream: runs
 * them again as their next attempt with nothing of the interrupted run kept, ends them when their attempts are used
 * up, and lets a cancel that reached the run win. Each is first announced again as its record has it; each retry is a
 * TRE-signed status event and an audit record.
 * And a run whose database cannot be reached (the credential broker's connection refused) runs again the same way.
 */
import { createServer } from "node:net";
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, ensureAuditStream } from "../audit/index.js";
import { waitFor } from "../common/index.js";
import { QueryExecutor } from "../executors/index.js";
import { recoverTasks } from "../leaf/agent-recovery.js";
import { AgentState, type AgentTask } from "../leaf/agent-state.js";
import { Airlock, type AirlockOptions } from "../leaf/airlock.js";
import { buildRelease } from "../leaf/airlock-release.js";
import { AirlockStore, type EgressRecord } from "../leaf/airlock-store.js";
import { CredentialBroker } from "../leaf/credential-broker.js";
import { DEFAULT_DISCLOSURE_RULES } from "../leaf/disclosure-rules.js";
import { StatusPublisher } from "../leaf/status-publisher.js";
import { type AdmittedTask, executeTask } from "../leaf/task-execution.js";
import { TaskTransitions } from "../leaf/task-transitions.js";
import {
  analysisOutput,
  type Dispatch,
  encodeOutput,
  generateKeyPair,
  newId,
  OUTPUT_MEDIA_TYPE,
  signingKeyFromSeed,
  streams,
  subjects,
} from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";
import { outboxStatusEvents } from "./harness/stream-contents.js";

const TRE = "a";
let server: JetStreamServer;
let state: AgentState;
let airlock: AirlockStore;
let transitions: TaskTransitions;
/** The TRE's airlock, releasing outputs that pass every check by itself (auto-release). */
let autoAirlock: Airlock;
const treKey = signingKeyFromSeed(generateKeyPair().seed);

beforeAll(async () => {
  server = await startJetStreamServer("agent-recovery");
  const jsm = await jetstreamManager(server.nc);
  await jsm.streams.add({ name: streams.outbox, subjects: subjects.outboxFilters(TRE) });
  await ensureAuditStream(jsm, { scope: TRE });
  state = await AgentState.open(server.js);
  airlock = await AirlockStore.open(server.js);
  transitions = new TaskTransitions({
    state,
    status: new StatusPublisher(server.js, TRE, treKey),
    audit: new AuditLog(server.js, { scope: TRE }),
    onTransition: () => undefined,
    // Progress waits for a later step this long: `statusEvents` sends what waits first.
    progressDelayMs: 60_000,
    onError: (taskId, error) => {
      throw new Error(`task ${taskId}: ${error.message}`);
    },
    now: Date.now,
  });
  autoAirlock = autoReleasing();
});

/** The TRE's airlock on the test server, releasing outputs that pass every check by itself, with `options`. */
function autoReleasing(options: Partial<AirlockOptions> = {}): Airlock {
  return new Airlock({
    tre: TRE,
    treKey,
    dmz: server.nc,
    ctrl: server.nc,
    store: airlock,
    state,
    audit: new AuditLog(server.js, { scope: TRE }),
    announcements: transitions,
    reviewers: [],
    rules: DEFAULT_DISCLOSURE_RULES,
    policy: { approvalsRequired: 1, autoRelease: true },
    ...options,
  });
}

afterAll(() => server?.stop());

/** A task record caught `running` at attempt `attempt`, as a killed agent leaves it. */
async function caughtRunning(attempt: number, extra: Partial<AgentTask> = {}): Promise<string> {
  const taskId = newId();
  const at = Date.now();
  await state.claim({
    taskId,
    state: "running",
    dispatch: "stored",
    ...(attempt > 1 ? { attempt } : {}),
    ...extra,
    history: [{ state: "running", at, actor: "agent", ...(attempt > 1 ? { attempt } : {}) }],
  });
  return taskId;
}

/** Recovers every unsettled task (earlier tests' too); returns how `taskId` was resumed, if it was. */
async function recover(taskId: string, maxAttempts = 3): Promise<string[]> {
  const resumed: string[] = [];
  await recoverTasks({
    state,
    records: await state.all(),
    transitions,
    maxAttempts,
    reopen: (task) => ({ taskId: task.taskId }) as Dispatch,
    discardAttempt: async (taskId) => {
      if (await airlock.egress(taskId)) return false;
      await airlock.discard(taskId);
      return true;
    },
    finishBuilt: (taskId, attempt) => autoAirlock.finishBuilt(taskId, attempt),
    resume: (dispatch, retry) => resumed.push(`${dispatch.taskId}:${retry}`),
    onRecovered: () => undefined,
    now: Date.now,
  });
  return resumed.filter((r) => r.startsWith(taskId));
}

/**
 * Holds a count of the task's, decided at hold by auto-release, and stores its Release built for `attempt` (as
 * `Airlock.releaseAtHold` does before the task's transition), with `legacy` fields in its record. Returns what was held.
 */
async function storeRelease(taskId: string, attempt: number, legacy: Partial<EgressRecord> = {}) {
  const held = await autoAirlock.hold({ taskId, project: "p", researcher: "r", kind: "count" }, [
    countOutput(),
  ]);
  const release = await buildRelease(held.task, held.outputs, {
    tre: TRE,
    treKey,
    store: airlock,
    now: Date.now(),
    history: [],
    status: {
      actor: "airlock",
      attempt,
      passed: [{ state: "outputs_pending_review", at: held.task.heldAt, actor: "agent" }],
    },
  });
  await airlock.createEgress({ ...release, ...legacy });
  return held;
}

/** A count's output, as the query executor hands it to the airlock: it passes every check. */
function countOutput() {
  const description = analysisOutput(
    {
      kind: "count",
      dataset: "patients",
      analysis: { kind: "count", dataset: "patients" },
      groupBy: [],
      cells: [{ key: [], n: 120 }],
    },
    "",
  );
  return { name: "count.json", mediaType: OUTPUT_MEDIA_TYPE, bytes: encodeOutput(description), description };
}

/** How many Releases of the task OUTBOX holds. */
async function releasesInOutbox(taskId: string): Promise<number[]> {
  const jsm = await jetstreamManager(server.nc);
  const outbox = await jsm.streams.info(streams.outbox, { subjects_filter: subjects.release(TRE, taskId) });
  return Object.values(outbox.state.subjects ?? {});
}

/** The TRE-signed status events of a task in OUTBOX, once the steps that wait are sent: state and attempt. */
async function statusEvents(taskId: string): Promise<[string, number][]> {
  await transitions.announceWaiting();
  return (await outboxStatusEvents(server, TRE, treKey.publicKey, taskId)).map((b) => [
    b.state,
    b.attempt ?? 1,
  ]);
}

describe("recovery of tasks an agent restart caught running", () => {
  it("runs one again as its next attempt, discarding what the interrupted run held, signed and audited", async () => {
    const taskId = await caughtRunning(1);
    const output = {
      outputId: newId(),
      name: "out",
      mediaType: "application/json",
      bytes: new Uint8Array([1]),
    };
    await airlock.hold({ taskId, project: "p", researcher: "r", kind: "count", heldAt: Date.now() }, [
      { ...output, outcome: "pass", findings: [] },
    ]);
    expect(await recover(taskId)).toEqual([`${taskId}:true`]);
    const record = await state.get(taskId);
    expect(record).toMatchObject({ state: "accepted", attempt: 2 });
    expect(record?.history.at(-1)?.reason).toBe(
      "the agent restarted while attempt 1 of 3 ran; nothing of it was kept; attempt 2 follows",
    );
    expect(await airlock.task(taskId)).toBeUndefined();
    expect(await airlock.data(taskId, output.outputId)).toBeUndefined();
    // The interrupted attempt as the record has it, announced again (its StatusEvent may have died with the agent).
    expect(await statusEvents(taskId)).toEqual([
      ["running", 1],
      ["accepted", 2],
    ]);
    const audit = (await auditRecords(server.js)).filter((r) => r.taskId === taskId);
    expect(audit.map((r) => [r.action, r.details?.attempt])).toEqual([["task.accepted", 2]]);
  });

  it("ends one whose attempts are used up, saying so, and never runs it again", async () => {
    const taskId = await caughtRunning(3);
    expect(await recover(taskId, 3)).toEqual([]);
    const record = await state.get(taskId);
    expect(record?.state).toBe("executor_error");
    expect(record?.history.at(-1)?.reason).toBe(
      "the agent restarted while attempt 3 of 3 ran; no attempt is left",
    );
    expect(await statusEvents(taskId)).toEqual([
      ["running", 3],
      ["executor_error", 3],
    ]);
  });

  it("finishes one whose Release was made before the restart: released as part of its attempt, never run again", async () => {
    const taskId = await caughtRunning(2);
    // The agent stopped after storing the Release, before the task's transition (`Airlock.releaseAtHold`).
    const held = await storeRelease(taskId, 2);
    expect(held.outputs.map((o) => o.state)).toEqual(["released"]); // decided at hold
    expect(await recover(taskId)).toEqual([]);
    const record = await state.get(taskId);
    expect(record).toMatchObject({ state: "released", attempt: 2 });
    expect(record?.history.slice(1).map((h) => [h.state, h.attempt, h.at >= held.task.heldAt])).toEqual([
      ["outputs_pending_review", 2, true],
      ["released", 2, true],
    ]);
    expect(record?.history[1]?.reason).toBe(
      "1 output(s) held in the airlock for review; 0 flagged by the disclosure checks",
    );
    // The attempt announced again as recorded, then no StatusEvent (the Release stands for its steps), one audit
    // record for both steps; the Release in OUTBOX, marked sent.
    expect(await statusEvents(taskId)).toEqual([["running", 2]]);
    const audit = (await auditRecords(server.js)).filter(
      (r) => r.taskId === taskId && r.action.startsWith("task."),
    );
    expect(audit.map((r) => [r.action, r.details?.passed, r.details?.attempt])).toEqual([
      ["task.released", "outputs_pending_review", 2],
    ]);
    expect(await releasesInOutbox(taskId)).toEqual([1]);
    expect(await airlock.sent(taskId)).toBe(true);
  });

  it("ends one cancelled while it ran as cancelled, instead of running it again", async () => {
    const taskId = await caughtRunning(1, { cancelRequested: "cancel requested: enough" });
    expect(await recover(taskId)).toEqual([]);
    expect(await state.get(taskId)).toMatchObject({ state: "cancelled" });
    expect(await statusEvents(taskId)).toEqual([
      ["running", 1],
      ["cancelled", 1],
    ]);
  });
});

/** A port nothing listens on: PostgreSQL "down". */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("a run whose database cannot be reached", () => {
  it("runs again after a doubling back-off until its attempts are used up, saying why without internals", async () => {
    const port = await closedPort();
    const dataset = {
      name: "patients",
      engine: "postgres" as const,
      schema: "public",
      table: "patients",
      columns: { age: "numeric" as const },
      identifiers: [],
    };
    const taskId = newId();
    await state.claim({ taskId, state: "accepted", history: [] });
    const errors: Error[] = [];
    const ctx = {
      datasets: [dataset],
      credentials: new CredentialBroker({
        postgres: { admin: { host: "127.0.0.1", port, user: "admin", password: "x", database: "tre" } },
      }),
      timeoutMs: 5_000,
      maxAttempts: 3,
      retryBackoffMs: 50,
      // Never reached: nothing runs without a credential.
      airlock: undefined as unknown as Airlock,
      audit: new AuditLog(server.js, { scope: TRE }),
      record: transitions.record.bind(transitions),
      onError: (_: string, e: Error) => void errors.push(e),
      onImageMissing: () => {},
    };
    const admitted = {
      submission: { project: "p", analysis: { kind: "count", dataset: "patients" } },
      researcher: "r",
      executor: new QueryExecutor(),
    } as unknown as AdmittedTask;
    const waits: number[] = [];
    for (;;) {
      const end = await executeTask(ctx, taskId, admitted, new AbortController().signal);
      if (end.retryInMs === undefined) break;
      waits.push(end.retryInMs);
    }
    expect(waits).toEqual([50, 100]);
    const unreachable = "the TRE's database could not be reached to make the task's credential";
    const record = await state.get(taskId);
    expect(record?.history.map((h) => [h.state, h.attempt ?? 1, h.reason])).toEqual([
      ["running", 1, undefined],
      ["accepted", 2, `attempt 1 of 3 failed: ${unreachable}; attempt 2 follows in 50 ms`],
      ["running", 2, undefined],
      ["accepted", 3, `attempt 2 of 3 failed: ${unreachable}; attempt 3 follows in 100 ms`],
      ["running", 3, undefined],
      ["executor_error", 3, `${unreachable} (attempt 3 of 3)`],
    ]);
    // The operators get the broker's own words (the refused connection), the researcher never does.
    expect(errors.map((e) => e.name)).toEqual(["CredentialBrokerError"]);
    expect(errors[0]!.message).toMatch(/ECONNREFUSED/);
  });
});

describe("Releases a restart caught between the task's release and OUTBOX", () => {
  it("sends a Release with no sent mark, once; marks one from before the marks that says it was sent, sending nothing", async () => {
    const released = async (legacy: Partial<EgressRecord>) => {
      const taskId = newId();
      // The task's transition to released is recorded; the agent stopped before the Release went into OUTBOX.
      await state.claim({
        taskId,
        state: "released",
        history: [{ state: "released", at: Date.now(), actor: "airlock" }],
      });
      await storeRelease(taskId, 1, legacy);
      return taskId;
    };
    const unsent = await released({});
    const before = await released({ state: "sent" });
    expect((await airlock.unsent()).map((r) => r.taskId)).toEqual([unsent]);
    expect([await airlock.sent(unsent), await airlock.sent(before)]).toEqual([false, true]);

    await autoAirlock.recover(await state.all());
    expect(await releasesInOutbox(unsent)).toEqual([1]);
    expect(await releasesInOutbox(before)).toEqual([]);
    // Both are marked now, so the next start reads neither Release again.
    for (const taskId of [unsent, before])
      expect((await airlock.kv.get(`sent.${taskId}`))?.operation).toBe("PUT");
    expect(await airlock.unsent()).toEqual([]);
  });
});

describe("a Release OUTBOX does not take", () => {
  it("is put there again, without a restart, until OUTBOX takes it: once, and audited once", async () => {
    const failures: string[] = [];
    const retrying = autoReleasing({
      onEvent: (e) => {
        if (e.type === "send-failed") failures.push(e.error.message);
      },
      resendAfterMs: 100,
    });
    const jsm = await jetstreamManager(server.nc);
    const outbox = (await jsm.streams.info(streams.outbox)).config;
    // OUTBOX refuses every message as large as a Release: JetStream's own refusal, as when a stream is full.
    await jsm.streams.update(streams.outbox, { ...outbox, max_msg_size: 256 });
    try {
      const taskId = await caughtRunning(1);
      const held = await retrying.hold({ taskId, project: "p", researcher: "r", kind: "count" }, [
        countOutput(),
      ]);
      expect(await retrying.releaseAtHold(held, 1)).toBe(true);
      expect((await state.get(taskId))?.state).toBe("released");
      expect(await airlock.sent(taskId)).toBe(false);
      expect(failures[0]).toMatch(/size/);
      await waitFor("a second try", async () => failures.length >= 2);
      expect(await releasesInOutbox(taskId)).toEqual([]);

      await jsm.streams.update(streams.outbox, outbox);
      await waitFor("the Release in OUTBOX", () => airlock.sent(taskId), { timeoutMs: 30_000 });
      expect(await releasesInOutbox(taskId)).toEqual([1]);
      const audited = (await auditRecords(server.js)).filter((r) => r.taskId === taskId);
      expect(audited.map((r) => r.action)).toEqual(["airlock.held", "task.released"]);
    } finally {
      retrying.stop();
      await jsm.streams.update(streams.outbox, outbox);
    }
  });
});
