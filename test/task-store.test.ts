/**
 * The hub's task store on a real JetStream: what a hub that dies in the middle of recording a submission can
 * leave behind, and what the researcher's retry of that submission (the same signed envelope) makes of it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServerHandle, startNatsServer, toNatsConf } from "../common/index.js";
import { type TaskRecord, TaskStore, UnknownTaskError } from "../hub/task-store.js";
import { type ChildState, newId } from "../protocol/index.js";
import { uniqueToken } from "./harness/unique.js";

let dir: string;
let server: NatsServerHandle;
let nc: NatsConnection;
let store: TaskStore;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-task-store-"));
  server = await startNatsServer({
    name: "hub",
    configText: toNatsConf({
      server_name: `task-store-${uniqueToken()}`,
      host: "127.0.0.1",
      port: -1,
      jetstream: { store_dir: join(dir, "js") },
    }),
    dir,
  });
  nc = await connect({ servers: server.clientUrl });
  store = await TaskStore.open(jetstream(nc));
});

afterAll(async () => {
  await nc?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

function record(tres: string[]): TaskRecord {
  const now = Date.now();
  return {
    taskId: newId(now),
    project: "diabetes",
    researcher: "alice",
    researcherKey: "UA",
    tres,
    kind: "count",
    submittedAt: now,
    submissionDigest: "d1",
    dispatched: false,
    state: "submitted",
    updatedAt: now,
  };
}

/** A TRE's event of the task, `at` ms after its submission, with an id of its own. */
function treEvent(task: TaskRecord, state: ChildState, at: number) {
  return { state, at: task.submittedAt + at, actor: "tre/agent", eventId: newId() };
}

/** Runs `fn` with a second hub instance's store on the same bucket (a connection of its own). */
async function withSecondInstance(fn: (second: TaskStore) => Promise<void>): Promise<void> {
  const other = await connect({ servers: server.clientUrl });
  try {
    await fn(await TaskStore.open(jetstream(other)));
  } finally {
    await other.close();
  }
}

describe("the hub's task store", () => {
  it("lists a researcher's own tasks, the newest first, and indexes on start the tasks recorded before the list", async () => {
    const mine = `UA${uniqueToken()}`;
    const start = Date.now();
    const tasks = [0, 1, 2, 3].map((i) => ({
      ...record(["a"]),
      taskId: newId(start + i),
      researcherKey: i === 2 ? `UB${uniqueToken()}` : mine,
    }));
    for (const t of tasks) expect(await store.create(t, new Uint8Array([1]))).toBe(true);
    const ids = async (limit = 50) => (await store.ofResearcher(mine, limit)).map((t) => t.taskId);
    expect(await ids()).toEqual([tasks[3]!.taskId, tasks[1]!.taskId, tasks[0]!.taskId]);
    expect(await ids(2)).toEqual([tasks[3]!.taskId, tasks[1]!.taskId]);

    // A task recorded by a hub from before the list has no entry in it until the start-up pass adds one.
    await store.kv.purge(`researcher.${mine}.${tasks[1]!.taskId}`);
    expect(await ids()).toEqual([tasks[3]!.taskId, tasks[0]!.taskId]);
    await store.indexResearchers();
    expect(await ids()).toEqual([tasks[3]!.taskId, tasks[1]!.taskId, tasks[0]!.taskId]);
  });

  it("writes no child before its first event: each reads as queued since the submission, and two instances' first writes of one never both land", async () => {
    const task = { ...record(["a", "b"]), dispatched: true };
    expect(await store.create(task, new Uint8Array([1]))).toBe(true);
    expect(await store.kv.get(`child.${task.taskId}.a`)).toBeNull();
    const queued = { state: "queued", at: task.submittedAt, actor: "hub" };
    expect((await store.children(task.taskId)).map((c) => [c.tre, c.state, c.history])).toEqual([
      ["a", "queued", [expect.objectContaining(queued)]],
      ["b", "queued", [expect.objectContaining(queued)]],
    ]);
    expect((await store.child(task.taskId, "b"))?.state).toBe("queued");
    expect(await store.child(task.taskId, "z")).toBeUndefined();
    await expect(
      store.applyChildEvent(task.taskId, "z", treEvent(task, "received", 10)),
    ).rejects.toBeInstanceOf(UnknownTaskError);
    await withSecondInstance(async (second) => {
      // Both instances take child a from never written at once: one write lands, the other goes on top of it.
      await Promise.all([
        store.applyChildEvent(task.taskId, "a", treEvent(task, "received", 10)),
        second.applyChildEvent(task.taskId, "a", treEvent(task, "accepted", 20)),
      ]);
      const a = await second.child(task.taskId, "a");
      expect([a?.state, a?.history.map((h) => h.state)]).toEqual([
        "accepted",
        ["queued", "received", "accepted"],
      ]);
      expect((await store.get(task.taskId))?.state).toBe("running");
    });
  });

  it("completes a submission a crash cut short when the same submission comes again", async () => {
    const task = record(["a", "b", "c"]);
    // What a hub that died after two children leaves: the envelope and those children, no task.
    await store.kv.put(`envelope.${task.taskId}`, new Uint8Array([1]));
    for (const tre of ["a", "b"])
      await store.kv.create(
        `child.${task.taskId}.${tre}`,
        JSON.stringify({ taskId: task.taskId, tre, state: "queued", history: [] }),
      );
    expect(await store.get(task.taskId)).toBeUndefined();

    expect(await store.create(task, new Uint8Array([1]))).toBe(true);
    expect((await store.children(task.taskId)).map((c) => [c.tre, c.state])).toEqual([
      ["a", "queued"],
      ["b", "queued"],
      ["c", "queued"],
    ]);
    expect(await store.create(task, new Uint8Array([1]))).toBe(false);
  });

  it("keeps the stored submission of a task when another submission claims its id", async () => {
    const task = record(["a"]);
    expect(await store.create(task, new Uint8Array([1]))).toBe(true);
    expect(await store.create({ ...task, submissionDigest: "d2" }, new Uint8Array([2]))).toBe(false);
    // The envelope is what a hub recovering an unfinished dispatch sends: never the later claimant's.
    expect([...((await store.envelope(task.taskId)) ?? [])]).toEqual([1]);
  });

  it("puts a TRE's step that arrives after a later state into the history, in its place, without moving back", async () => {
    // Found by test/faults.test.ts: status events the hub had read but not acknowledged when it restarted come
    // again 30 s later, after the task's later events; they were dropped, and the researcher's history lost them.
    const task = { ...record(["a"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    const event = (state: "received" | "running" | "released", at: number) => ({
      state,
      at: task.submittedAt + at,
      actor: "tre:a/agent",
      eventId: newId(),
    });
    const running = event("running", 20);
    expect(await store.applyChildEvent(task.taskId, "a", event("received", 10))).toBeDefined();
    expect(await store.applyChildEvent(task.taskId, "a", event("released", 30))).toBeDefined();
    expect((await store.get(task.taskId))!.state).toBe("completed");

    const late = await store.applyChildEvent(task.taskId, "a", running);
    expect(late?.state).toBe("released");
    expect(late?.history.map((h) => h.state)).toEqual(["queued", "received", "running", "released"]);
    expect(await store.applyChildEvent(task.taskId, "a", running)).toBeUndefined(); // once only
    expect((await store.get(task.taskId))!.state).toBe("completed");
  });

  it("records the steps a TRE announced together with an event, each in its place, and skips those the child has passed", async () => {
    const task = { ...record(["a", "b"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    const step = (state: ChildState, at: number, reason?: string) => ({
      ...treEvent(task, state, at),
      ...(reason ? { reason } : {}),
    });
    const running = step("running", 12);
    const together = [step("received", 10, "dispatch verified"), step("accepted", 11, "approved")];
    const a = await store.applyChildEvent(task.taskId, "a", running, together);
    expect(a?.state).toBe("running");
    expect(a?.history.map((h) => [h.state, h.at - task.submittedAt, h.reason])).toEqual([
      ["queued", 0, undefined],
      ["received", 10, "dispatch verified"],
      ["accepted", 11, "approved"],
      ["running", 12, undefined],
    ]);
    expect((await store.get(task.taskId))!.state).toBe("running");
    // The same event again: applied once only, its steps with it.
    expect(await store.applyChildEvent(task.taskId, "a", running, together)).toBeUndefined();
    expect((await store.child(task.taskId, "a"))?.history).toHaveLength(4);

    // A child that is `accepted` already takes only what lies ahead of it.
    await store.applyChildEvent(task.taskId, "b", step("accepted", 5));
    const b = await store.applyChildEvent(task.taskId, "b", step("running", 12), [step("received", 3)]);
    expect(b?.history.map((h) => h.state)).toEqual(["queued", "accepted", "running"]);
  });

  it("derives the parent from its children's marks, written by two hub instances at once, without reading every child", async () => {
    const tres = ["a", "b", "c", "d", "e", "f"];
    const task = { ...record(tres), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    await withSecondInstance(async (second) => {
      // Every child moves twice at once, half of them through each instance.
      const apply = (tre: string, i: number, state: "received" | "released" | "withheld", at: number) =>
        (i % 2 === 0 ? store : second).applyChildEvent(task.taskId, tre, treEvent(task, state, at));
      await Promise.all(tres.map((tre, i) => apply(tre, i, "received", 10)));
      expect((await store.get(task.taskId))!.state).toBe("running");
      await Promise.all(tres.map((tre, i) => apply(tre, i, tre === "f" ? "withheld" : "released", 20)));
      const parent = (await store.get(task.taskId))!;
      expect(parent.state).toBe("partial");
      // Each mark is the child's record as it ended: its state and its revision.
      for (const tre of tres) {
        const child = (await store.kv.get(`child.${task.taskId}.${tre}`))!;
        expect(parent.marks?.[tre], tre).toEqual({
          state: (child.json() as { state: string }).state,
          revision: child.revision,
        });
      }
    });
  });

  it("moves a parent and children it last wrote itself without reading them, and the parent only when a child's move can change it", async () => {
    const task = { ...record(["a", "b", "c"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    // Every read of a record asks the bucket's stream for the last message on its subject; every write publishes
    // to the record's subject.
    const watcher = await connect({ servers: server.clientUrl });
    const reads: string[] = [];
    const writes: string[] = [];
    const subs = [
      watcher.subscribe("$JS.API.STREAM.MSG.GET.KV_TASK_STATE", {
        callback: (_e, m) => {
          reads.push(String(m.json<{ last_by_subj?: string }>().last_by_subj));
        },
      }),
      watcher.subscribe(`$KV.TASK_STATE.task.${task.taskId}`, {
        callback: (_e, m) => {
          writes.push(m.json<TaskRecord>().state);
        },
      }),
    ];
    await watcher.flush();
    try {
      for (const [state, at] of [
        ["received", 10],
        ["released", 20],
      ] as const)
        for (const tre of task.tres) await store.applyChildEvent(task.taskId, tre, treEvent(task, state, at));
      expect((await store.get(task.taskId))!.state).toBe("completed");
      // The watcher is sent each request before the server answers it; a round trip on its own connection then
      // delivers every one, the get's included.
      await watcher.flush();
      expect(reads.filter((subject) => subject.endsWith(`.task.${task.taskId}`))).toHaveLength(1); // the get above
      // Nor a child: each was never written before its first event, and this instance wrote each after.
      expect(reads.filter((subject) => subject.includes(`.child.${task.taskId}.`))).toEqual([]);
      // The first child received makes the task running; the others' claims change nothing; every end is marked.
      expect(writes).toEqual(["running", "running", "running", "completed"]);
    } finally {
      for (const sub of subs) sub.unsubscribe();
      await watcher.close();
    }
  });

  it("knows a task's TREs without reading once it recorded the task, and another instance's first events share one read", async () => {
    const task = { ...record(["a", "b", "c"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    const watcher = await connect({ servers: server.clientUrl });
    const reads: string[] = [];
    const sub = watcher.subscribe("$JS.API.STREAM.MSG.GET.KV_TASK_STATE", {
      callback: (_e, m) => void reads.push(String(m.json<{ last_by_subj?: string }>().last_by_subj)),
    });
    await watcher.flush();
    try {
      expect(await store.tresOf(task.taskId)).toEqual(["a", "b", "c"]);
      await withSecondInstance(async (second) => {
        // Every TRE's first event at once, at an instance that did not record the task.
        const seen = await Promise.all(task.tres.map(() => second.tresOf(task.taskId)));
        expect(seen).toEqual(task.tres.map(() => ["a", "b", "c"]));
        expect(await second.tresOf(task.taskId)).toEqual(["a", "b", "c"]);
        expect(await second.tresOf(newId())).toBeUndefined();
      });
      await watcher.flush();
      // One read for the task, by the second instance, and one for the unknown task.
      expect(reads.filter((subject) => subject.endsWith(`.task.${task.taskId}`))).toHaveLength(1);
      expect(reads).toHaveLength(2);
    } finally {
      sub.unsubscribe();
      await watcher.close();
    }
  });

  it("applies a child's event on top of what another instance wrote since this one last wrote the child", async () => {
    const task = { ...record(["a"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    await withSecondInstance(async (second) => {
      const event = (state: ChildState, at: number) => treEvent(task, state, at);
      await store.applyChildEvent(task.taskId, "a", event("received", 10));
      // The other instance moves the child on: this one's copy of it is now behind.
      const running = event("running", 20);
      await second.applyChildEvent(task.taskId, "a", running);
      const released = await store.applyChildEvent(task.taskId, "a", event("released", 30));
      expect(released?.history.map((h) => h.state)).toEqual(["queued", "received", "running", "released"]);
      // The same event again, through the instance whose copy never saw it: applied once only.
      expect(await store.applyChildEvent(task.taskId, "a", running)).toBeUndefined();
      expect((await second.child(task.taskId, "a"))?.history).toHaveLength(4);
      expect((await store.get(task.taskId))!.state).toBe("completed");
    });
  });

  it("says a child whose record is gone is unknown, even to an instance holding a copy of it, so its events are refused", async () => {
    const task = { ...record(["a"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    await store.applyChildEvent(task.taskId, "a", treEvent(task, "received", 10));
    await store.kv.purge(`child.${task.taskId}.a`);
    // This instance's copy of the child is a starting point only: the write fails, and the read finds nothing.
    await expect(
      store.applyChildEvent(task.taskId, "a", treEvent(task, "running", 20)),
    ).rejects.toBeInstanceOf(UnknownTaskError);
  });

  it("reads the children once for a parent recorded before marks, and mends a parent a failed handler left behind", async () => {
    const task = { ...record(["a", "b"]), dispatched: true };
    await store.create(task, new Uint8Array([1]));
    const event = (state: ChildState, at: number) => treEvent(task, state, at);
    await store.applyChildEvent(task.taskId, "a", event("received", 10));
    // A parent as a hub from before marks wrote it: child a's move is only in its own record.
    const { marks: _marks, ...legacy } = (await store.get(task.taskId))!;
    await store.kv.put(`task.${task.taskId}`, JSON.stringify({ ...legacy, state: "dispatched" }));
    await store.applyChildEvent(task.taskId, "b", event("released", 20));
    const read = (await store.get(task.taskId))!;
    expect(read.state).toBe("running");
    expect(Object.keys(read.marks ?? {}).sort()).toEqual(["a", "b"]);

    // A handler that stored a's release but failed before its parent was written: the event comes again.
    const released = event("released", 30);
    await store.applyChildEvent(task.taskId, "a", released);
    await store.kv.put(`task.${task.taskId}`, JSON.stringify(read));
    expect((await store.get(task.taskId))!.state).toBe("running");
    expect(await store.applyChildEvent(task.taskId, "a", released)).toBeUndefined(); // applied already
    expect((await store.get(task.taskId))!.state).toBe("completed");
  });

  it("lists a task whose dispatch never completed for any instance to finish, once it is old enough, until it is dispatched", async () => {
    const task = record(["a", "b"]);
    await store.create(task, new Uint8Array([1]));
    const pendingIds = async (olderThanMs: number, now?: number) =>
      (await store.pendingDispatch(olderThanMs, now)).map((t) => t.taskId);
    // Not yet: the instance that took the submission is most likely still dispatching it.
    expect(await pendingIds(5_000)).not.toContain(task.taskId);
    expect(await pendingIds(5_000, task.submittedAt + 6_000)).toContain(task.taskId);
    await store.markDispatched(task.taskId);
    expect(await pendingIds(0, task.submittedAt + 6_000)).not.toContain(task.taskId);
    expect((await store.get(task.taskId))?.dispatched).toBe(true);
    // A create that died before the task record was written is forgotten only after ten minutes.
    const orphan = `pending.${newId()}`;
    await store.kv.put(orphan, String(Date.now()));
    await store.pendingDispatch(0);
    expect((await store.kv.get(orphan))?.operation).toBe("PUT");
    await store.pendingDispatch(0, Date.now() + 11 * 60_000);
    expect((await store.kv.get(orphan))?.operation).not.toBe("PUT");
  });
});
