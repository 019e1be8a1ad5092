/**
 * A TRE forgets an ended task's records once its retention has passed, on a real JetStream: the agent's record and
 * every key the airlock held of it go from the buckets' streams (no delete markers left to read at each start), the
 * audit chain names each task forgotten, and nothing goes that a TRE still needs: a task awaiting review, a Release
 * not yet sent, a task ended lately.
 */
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, auditLimits, ensureAuditStream } from "../audit/index.js";
import { AgentState, type AgentTask } from "../leaf/agent-state.js";
import { AirlockStore, INLINE_MAX_BYTES } from "../leaf/airlock-store.js";
import { DAY_MS as DAY, forgetEndedTasks, MIN_TASK_RETENTION_DAYS } from "../leaf/task-retention.js";
import {
  type ChildState,
  DEFAULT_CLOCK_SKEW_MS,
  DEFAULT_MAX_LIFETIME_MS,
  newId,
  streams,
} from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";

const NOW = Date.now();
const KEEP = 90 * DAY;
let server: JetStreamServer;
let jsm: JetStreamManager;
let state: AgentState;
let store: AirlockStore;
let audit: AuditLog;

beforeAll(async () => {
  server = await startJetStreamServer("task-retention");
  jsm = await jetstreamManager(server.nc);
  await ensureAuditStream(jsm, { scope: "a" });
  state = await AgentState.open(server.js);
  store = await AirlockStore.open(server.js);
  audit = new AuditLog(server.js, { scope: "a" });
});

afterAll(async () => {
  await server?.stop();
});

/** A task whose record ended in `state` `daysAgo` days before NOW; with its outputs held (one too large to inline). */
async function task(state_: ChildState, daysAgo: number, airlock: "none" | "held" | "unsent" | "sent") {
  const taskId = newId();
  const at = NOW - daysAgo * DAY;
  const record: AgentTask = {
    taskId,
    state: state_,
    history: [
      { state: "received", at: at - 1000, actor: "agent" },
      { state: state_, at, actor: "agent" },
    ],
  };
  await state.claim(record);
  if (airlock === "none") return taskId;
  const pass = { outcome: "pass" as const, findings: [] };
  await store.hold({ taskId, project: "p", researcher: "r", kind: "count", heldAt: at }, [
    { outputId: "small", name: "count", mediaType: "application/json", bytes: new Uint8Array(10), ...pass },
    {
      outputId: "large",
      name: "table",
      mediaType: "text/csv",
      bytes: new Uint8Array(INLINE_MAX_BYTES + 1),
      releasable: new Uint8Array(INLINE_MAX_BYTES + 1),
      ...pass,
    },
  ]);
  if (airlock === "held") return taskId;
  await store.createEgress({
    taskId,
    outcome: "released",
    reason: "2 output(s) released",
    at,
    envelope: "AA==",
  });
  if (airlock === "sent") await store.markSent(taskId, at);
  return taskId;
}

/** Messages each bucket's stream holds for `taskId`, delete markers included. */
async function messagesOf(taskId: string): Promise<number> {
  let n = 0;
  for (const stream of ["KV_AGENT_TASKS", "KV_AIRLOCK"]) {
    const info = await jsm.streams.info(stream, { subjects_filter: ">" });
    for (const [subject, count] of Object.entries(info.state.subjects ?? {}))
      if (subject.split(".").includes(taskId)) n += count;
  }
  return n;
}

describe("a TRE's retention of ended tasks", () => {
  it("forgets ended tasks past their retention and keeps what the TRE still needs, recording each in the audit chain", async () => {
    const released = await task("released", 100, "sent");
    const rejected = await task("rejected", 120, "none");
    const failedAfterHolding = await task("executor_error", 95, "held");
    const unsent = await task("released", 100, "unsent");
    const reviewing = await task("outputs_pending_review", 200, "held");
    const lately = await task("released", 10, "sent");
    expect(await messagesOf(released)).toBeGreaterThanOrEqual(6); // record, task, 2 outputs, data, safe, egress, sent

    const gone = await forgetEndedTasks(await state.all(), { state, store, audit, keepMs: KEEP, now: NOW });

    // Oldest first.
    expect(gone).toEqual([rejected, released, failedAfterHolding]);
    for (const id of gone) {
      expect(await state.get(id)).toBeUndefined();
      expect(await store.task(id)).toBeUndefined();
      expect(await messagesOf(id)).toBe(0);
    }
    for (const id of [unsent, reviewing, lately]) {
      expect((await state.get(id))?.taskId).toBe(id);
      expect((await store.task(id))?.outputIds).toEqual(["small", "large"]);
      expect(await store.data(id, "large")).toHaveLength(INLINE_MAX_BYTES + 1);
    }
    // The Release not sent yet is still there for the next start to send.
    expect((await store.unsent()).map((e) => e.taskId)).toContain(unsent);
    expect((await state.all()).map((t) => t.taskId).sort()).toEqual([unsent, reviewing, lately].sort());

    const records = (await auditRecords(server.js, streams.audit)).filter(
      (r) => r.action === "tasks.forgotten",
    );
    expect(records).toHaveLength(1);
    expect(records[0]?.details).toEqual({
      tasks: gone.join(","),
      count: 3,
      endedBefore: new Date(NOW - KEEP).toISOString(),
    });

    // A second sweep finds nothing more to forget, and records nothing.
    expect(
      await forgetEndedTasks(await state.all(), { state, store, audit, keepMs: KEEP, now: NOW }),
    ).toEqual([]);
    expect(
      (await auditRecords(server.js, streams.audit)).filter((r) => r.action === "tasks.forgotten"),
    ).toHaveLength(1);
  });

  it("names every task it forgets, as many to an audit record as the detail limit takes", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) ids.push(await task("released", 100 + i, "sent"));
    const before = (await auditRecords(server.js, streams.audit)).length;

    const gone = await forgetEndedTasks(await state.all(), { state, store, audit, keepMs: KEEP, now: NOW });

    expect([...gone].sort()).toEqual([...ids].sort());
    const records = (await auditRecords(server.js, streams.audit)).slice(before);
    expect(records.length).toBeGreaterThan(1);
    const named = records.flatMap((r) => {
      expect(r.action).toBe("tasks.forgotten");
      const list = String(r.details?.tasks);
      expect(list.length).toBeLessThanOrEqual(auditLimits.detailStringChars);
      expect(r.details?.count).toBe(list.split(",").length);
      return list.split(",");
    });
    expect(named).toEqual(gone);
  });

  it("stops between tasks when the agent stops, leaving the rest for its next start", async () => {
    const ended = await task("released", 100, "sent");
    const stopping = new AbortController();
    stopping.abort();
    const sweep = { state, store, audit, keepMs: KEEP, now: NOW };
    expect(await forgetEndedTasks(await state.all(), { ...sweep, signal: stopping.signal })).toEqual([]);
    expect(await state.get(ended)).toBeDefined();
    expect(await forgetEndedTasks(await state.all(), sweep)).toEqual([ended]);
  });

  it("never keeps a task's records less long than a Dispatch may be valid", async () => {
    expect(MIN_TASK_RETENTION_DAYS * DAY).toBeGreaterThanOrEqual(
      DEFAULT_MAX_LIFETIME_MS + DEFAULT_CLOCK_SKEW_MS,
    );
    const ended = await task("released", 40, "sent");
    await expect(
      forgetEndedTasks(await state.all(), { state, store, audit, keepMs: 30 * DAY, now: NOW }),
    ).rejects.toThrow(`at least ${MIN_TASK_RETENTION_DAYS} days`);
    expect(await state.get(ended)).toBeDefined();
  });
});
