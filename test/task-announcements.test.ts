/**
 * How a TRE's agent tells the hub of a task's steps, on a real JetStream: every step is audited at once, but its
 * progress (received, accepted, running) waits to leave with the next step, so a task that ends soon sends one
 * message, not two; progress that waits long enough leaves on its own; a Release carries the steps that wait; an
 * earlier attempt's steps leave before a later one's.
 */
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, ensureAuditStream } from "../audit/index.js";
import { waitFor } from "../common/index.js";
import { AgentState, type AgentTaskEvent } from "../leaf/agent-state.js";
import { StatusPublisher } from "../leaf/status-publisher.js";
import { TaskTransitions } from "../leaf/task-transitions.js";
import { generateKeyPair, newId, signingKeyFromSeed, streams, subjects } from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";
import { outboxStatusEvents } from "./harness/stream-contents.js";

const TRE = "a";
const treKey = signingKeyFromSeed(generateKeyPair().seed);
let server: JetStreamServer;
let state: AgentState;
let audit: AuditLog;

beforeAll(async () => {
  server = await startJetStreamServer("task-announcements");
  await server.jsm.streams.add({ name: streams.outbox, subjects: subjects.outboxFilters(TRE) });
  await ensureAuditStream(server.jsm, { scope: TRE });
  state = await AgentState.open(server.js);
  audit = new AuditLog(server.js, { scope: TRE });
});

afterAll(() => server?.stop());

function transitions(
  progressDelayMs: number,
  js = server.js,
): { transitions: TaskTransitions; errors: Error[] } {
  const errors: Error[] = [];
  const t = new TaskTransitions({
    state,
    status: new StatusPublisher(js, TRE, treKey),
    audit,
    onTransition: () => undefined,
    progressDelayMs,
    onError: (_taskId, error) => errors.push(error),
    now: Date.now,
  });
  return { transitions: t, errors };
}

/** A task claimed as a Dispatch claims it when a slot is free: received, accepted and running at once. */
async function claimed(t: TaskTransitions): Promise<{ taskId: string; steps: AgentTaskEvent[] }> {
  const taskId = newId();
  const at = Date.now();
  const steps: AgentTaskEvent[] = [
    { state: "received", at, actor: "agent", reason: "dispatch verified" },
    { state: "accepted", at, actor: "agent", reason: "approved" },
    { state: "running", at, actor: "agent" },
  ];
  await state.claim({ taskId, state: "running", history: steps });
  await t.announceClaim(taskId, steps);
  return { taskId, steps };
}

/** The task's StatusEvents in OUTBOX, in order: state, attempt and the states passed on the way. */
const statusEvents = async (taskId: string): Promise<[string, number, string[]][]> =>
  (await outboxStatusEvents(server, TRE, treKey.publicKey, taskId)).map((b) => [
    b.state,
    b.attempt ?? 1,
    (b.passed ?? []).map((p) => p.state),
  ]);

const auditedActions = async (taskId: string) =>
  (await auditRecords(server.js)).filter((r) => r.taskId === taskId).map((r) => r.action);

describe("a TRE's announcements of a task's steps", () => {
  it("sends a task's progress with its next step, as one StatusEvent, and audits each step at once", async () => {
    const { transitions: t, errors } = transitions(60_000);
    const { taskId, steps } = await claimed(t);
    expect(await auditedActions(taskId)).toEqual(["task.running"]);
    expect(await statusEvents(taskId)).toEqual([]);
    expect(t.unannounced(taskId, 1).map((s) => [s.state, s.at, s.reason])).toEqual(
      steps.map((s) => [s.state, s.at, s.reason]),
    );

    await t.record(taskId, "executor_error", "the query failed", (s) => s === "running");
    expect(await statusEvents(taskId)).toEqual([["executor_error", 1, ["received", "accepted", "running"]]]);
    expect(await auditedActions(taskId)).toEqual(["task.running", "task.executor_error"]);
    expect(t.unannounced(taskId, 1)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("sends progress on its own once it has waited its time", async () => {
    const { transitions: t, errors } = transitions(100);
    const { taskId } = await claimed(t);
    const events = await waitFor("the claim's StatusEvent", async () => {
      const e = await statusEvents(taskId);
      return e.length > 0 ? e : undefined;
    });
    expect(events).toEqual([["running", 1, ["received", "accepted"]]]);
    expect(t.unannounced(taskId, 1)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("leaves the steps that wait to the Release, which sends after the StatusEvents before it", async () => {
    const { transitions: t, errors } = transitions(60_000);
    const { taskId } = await claimed(t);
    const carried = t.unannounced(taskId, 1).map((s) => s.state);
    const order: string[] = [];
    await t.releasing(taskId, async () => {
      order.push("release");
      await server.js.publish(subjects.release(TRE, taskId), new Uint8Array([1]));
    });
    await t.announceWaiting();
    expect(carried).toEqual(["received", "accepted", "running"]);
    expect(order).toEqual(["release"]);
    expect(await statusEvents(taskId)).toEqual([]);
    expect(errors).toEqual([]);
  });

  it("sends an earlier attempt's waiting steps before any of a later attempt", async () => {
    const { transitions: t, errors } = transitions(60_000);
    const { taskId } = await claimed(t);
    // The retry step: the next attempt is accepted, and its progress waits in turn.
    await t.record(taskId, "accepted", "attempt 1 failed; attempt 2 follows", (s) => s === "running");
    expect(await statusEvents(taskId)).toEqual([["running", 1, ["received", "accepted"]]]);
    expect(t.unannounced(taskId, 1)).toEqual([]);
    expect(t.unannounced(taskId, 2).map((s) => s.state)).toEqual(["accepted"]);
    await t.announceWaiting();
    expect(await statusEvents(taskId)).toEqual([
      ["running", 1, ["received", "accepted"]],
      ["accepted", 2, []],
    ]);
    expect(errors).toEqual([]);
  });

  it("sends a step OUTBOX refused again after the same wait, until OUTBOX takes it: an end reaches the hub once", async () => {
    const outbox = (await server.jsm.streams.info(streams.outbox)).config;
    // OUTBOX refuses every StatusEvent (JetStream's own refusal, as when it is full).
    await server.jsm.streams.update(streams.outbox, { ...outbox, max_msg_size: 64 });
    const { transitions: t, errors } = transitions(100);
    try {
      const { taskId } = await claimed(t);
      // Recorded and audited though it could not leave: the caller goes on.
      await t.record(taskId, "executor_error", "the query failed", (s) => s === "running");
      expect((await state.get(taskId))?.state).toBe("executor_error");
      expect(await auditedActions(taskId)).toEqual(["task.running", "task.executor_error"]);
      await waitFor("a second try", async () => errors.length >= 2);
      expect(errors[0]?.message).toMatch(/size/);
      expect(await statusEvents(taskId)).toEqual([]);

      await server.jsm.streams.update(streams.outbox, outbox);
      await waitFor("the StatusEvent in OUTBOX", async () => (await statusEvents(taskId)).length > 0);
      expect(await statusEvents(taskId)).toEqual([
        ["executor_error", 1, ["received", "accepted", "running"]],
      ]);
    } finally {
      await server.jsm.streams.update(streams.outbox, outbox);
      await t.announceWaiting();
    }
  });

  it("reports steps a stopping agent could not send, once, and keeps nothing waiting", async () => {
    // The StatusEvents go out on a connection of their own, closed before the agent stops: every send fails.
    const nc = await connect({ servers: server.nc.getServer() });
    const { transitions: t, errors } = transitions(60_000, jetstream(nc));
    const { taskId } = await claimed(t);
    await nc.close();
    await t.announceWaiting();
    expect(errors).toHaveLength(1);
    expect(t.unannounced(taskId, 1)).toEqual([]);
    expect(await statusEvents(taskId)).toEqual([]);
  });
});
