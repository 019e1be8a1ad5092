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
});
