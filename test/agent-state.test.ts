/**
 * The agent's task records on a real JetStream: every transition it records is a step of the child life cycle,
 * and a step the life cycle does not have is a typed error that leaves the record as it was.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServerHandle, startNatsServer, toNatsConf } from "../common/index.js";
import { AgentState } from "../leaf/index.js";
import { ChildTransitionError, newId } from "../protocol/index.js";
import { uniqueToken } from "./harness/unique.js";

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let state: AgentState;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-agent-state-"));
  server = await startNatsServer({
    name: "leaf",
    configText: toNatsConf({
      server_name: `agent-state-${uniqueToken()}`,
      host: "127.0.0.1",
      port: -1,
      jetstream: { store_dir: join(dir, "js") },
    }),
    dir,
  });
  nc = await connect({ servers: server.clientUrl });
  state = await AgentState.open(jetstream(nc));
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

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
