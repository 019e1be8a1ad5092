/**
 * The agent's task records on a real JetStream: every transition it records is a step of the child life cycle,
 * and a step the life cycle does not have is a typed error that leaves the record as it was.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentState } from "../leaf/agent-state.js";
import { ChildTransitionError, newId } from "../protocol/index.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";

let server: JetStreamServer;
let state: AgentState;

beforeAll(async () => {
  server = await startJetStreamServer("agent-state");
  state = await AgentState.open(server.js);
});

afterAll(() => server?.stop());

const event = (s: "accepted" | "running" | "outputs_pending_review") => ({
  state: s,
  at: Date.now(),
  actor: "agent",
});

describe("AgentState", () => {
  it("records the steps of the life cycle in order", async () => {
    const taskId = newId();
    await state.claim({ taskId, state: "received", history: [] });
    await state.transition(taskId, event("accepted"), () => true);
    await state.transition(taskId, event("running"), (s) => s === "accepted");
    const done = await state.transition(taskId, event("outputs_pending_review"), (s) => s === "running");
    expect(done?.history.map((h) => h.state)).toEqual(["accepted", "running", "outputs_pending_review"]);
  });

  it("throws a ChildTransitionError for a step the life cycle does not have, and keeps the record", async () => {
    const taskId = newId();
    await state.claim({ taskId, state: "received", history: [] });
    const skip = state.transition(taskId, event("running"), () => true);
    await expect(skip).rejects.toBeInstanceOf(ChildTransitionError);
    await expect(skip).rejects.toMatchObject({ taskId, from: "received", to: "running" });
    expect((await state.get(taskId))?.state).toBe("received");
  });

  it("returns undefined, without an error, when the guard says another path got there first", async () => {
    const taskId = newId();
    await state.claim({ taskId, state: "cancelled", history: [] });
    expect(await state.transition(taskId, event("accepted"), (s) => s === "received")).toBeUndefined();
  });

  it("starts each write from the record as it last wrote it, yet never overwrites what another process wrote since", async () => {
    const taskId = newId();
    const other = await AgentState.open(server.js); // a second process on the same bucket
    await state.claim({ taskId, state: "received", history: [] });
    await state.transition(taskId, event("accepted"), () => true);
    // The other process moves the task on: the first one's copy is now behind.
    await other.transition(taskId, event("running"), (s) => s === "accepted");
    // A guard that refuses on the stale copy (accepted) is checked against the record as it is (running).
    const held = await state.transition(taskId, event("outputs_pending_review"), (s) => s === "running");
    expect(held?.history.map((h) => h.state)).toEqual(["accepted", "running", "outputs_pending_review"]);
    // The other process writes again; this one's next change keeps that write instead of overwriting it.
    await other.markCancelRequested(taskId, "the researcher cancelled");
    await state.transition(taskId, { state: "withheld", at: Date.now(), actor: "airlock" }, () => true);
    const record = await other.get(taskId);
    expect(record?.cancelRequested).toBe("the researcher cancelled");
    expect(record?.state).toBe("withheld");
  });
});
