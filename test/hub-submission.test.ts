import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { sendSubmission, signSubmission } from "../aggregator/index.js";
import { AuditLog, ensureAuditStream, verifyAuditLog } from "../audit/index.js";
import { ensureDeadLetterStream, waitFor } from "../common/index.js";
import { Registry, treAccountName } from "../hub/index.js";
import { ResearcherDirectory } from "../hub/researcher-directory.js";
import { StatusTracker } from "../hub/status-tracker.js";
import { ensureFedStreams, ensureTreStreams } from "../hub/streams.js";
import { SubmissionService } from "../hub/submission-service.js";
import { TaskStore } from "../hub/task-store.js";
import { DMZ_ACCOUNT } from "../leaf/account-names.js";
import { ensureLeafStreams } from "../leaf/streams.js";
import {
  type AnalysisSpec,
  type ChildState,
  generateKeyPair,
  newId,
  openEnvelope,
  sealEnvelope,
  signingKeyFromSeed,
  streams,
  subjects,
  TrustStore,
} from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { type Mesh, startMesh } from "./harness/mesh.js";
import { storedEntries, waitForSettledStream } from "./harness/stream-contents.js";

const key = () => signingKeyFromSeed(generateKeyPair("user").seed);
const count: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };
const DAY = 86400_000;

/** A hub with its services, three TREs (a, b on the project; c not), two service instances. */
async function federation() {
  const mesh = await startMesh({ tres: ["a", "b", "c"] });
  try {
    return await services(mesh);
  } catch (error) {
    await mesh[Symbol.asyncDispose](); // a failed set-up must not leave servers running
    throw error;
  }
}

async function services(mesh: Mesh) {
  const tres = ["a", "b", "c"];
  for (const tre of tres) {
    await ensureTreStreams(await jetstreamManager(await mesh.connectHub(treAccountName(tre))), { tre });
    await ensureLeafStreams(await jetstreamManager(await mesh.connectLeaf(tre, DMZ_ACCOUNT)), { tre });
  }
  const fed = await mesh.connectHub("FED");
  const fedJsm = await jetstreamManager(fed);
  await ensureFedStreams(fedJsm, { tres });
  await ensureAuditStream(fedJsm, { scope: "hub" });
  await ensureDeadLetterStream(fedJsm, "hub");
  const js = jetstream(fed);
  const registry = await Registry.open(js);
  const tasks = await TaskStore.open(js);
  const audit = new AuditLog(js, { scope: "hub" });

  const alice = key();
  const bob = key();
  await registry.putResearcher({ name: "alice", publicKey: alice.publicKey });
  await registry.putResearcher({ name: "bob", publicKey: bob.publicKey });
  const now = Date.now();
  await registry.putProject({
    name: "diabetes",
    startsAt: now - DAY,
    endsAt: now + 30 * DAY,
    tres: ["a", "b"],
    members: ["alice"],
  });
  await registry.putProject({
    name: "ended",
    startsAt: now - 9 * DAY,
    endsAt: now - DAY,
    tres: ["a"],
    members: ["alice"],
  });

  const hubKey = key();
  const treKeys = Object.fromEntries(tres.map((t) => [t, key()]));
  const researchers = await ResearcherDirectory.watch(registry);
  const services = await Promise.all(
    [1, 2].map(async () =>
      SubmissionService.start({
        nc: await mesh.connectHub("FED"),
        js,
        hubKey,
        registry,
        researchers,
        tasks,
        audit,
      }),
    ),
  );
  const treTrust = new TrustStore();
  for (const t of tres)
    treTrust.add({ publicKey: treKeys[t]!.publicKey, role: "tre", name: `tre:${t}`, tre: t });
  const tracker = await StatusTracker.start({
    js,
    jsm: fedJsm,
    stream: streams.fedResults,
    tasks,
    treTrust,
    audit,
  });

  const leafJsm: Record<string, JetStreamManager> = {};
  for (const t of tres) leafJsm[t] = await jetstreamManager(await mesh.connectLeaf(t, DMZ_ACCOUNT));
  const researcherNc = await mesh.connectHub("FED");

  return {
    mesh,
    fed,
    js,
    tasks,
    alice,
    bob,
    hubKey,
    treKeys,
    leafJsm,
    researcherNc,
    submit: (envelope: Uint8Array) => sendSubmission(researcherNc, envelope),
    async [Symbol.asyncDispose]() {
      await tracker.stop();
      for (const s of services) await s.stop();
      researchers.close();
      await mesh[Symbol.asyncDispose]();
    },
  };
}

describe("hub submission service", () => {
  it("fans a valid task out to exactly its TREs, once, and a retry of it is the same task", async () => {
    await using f = await federation();
    const envelope = signSubmission(f.alice, { project: "diabetes", tres: ["a", "b"], analysis: count });
    const reply = await f.submit(envelope);
    expect(reply).toMatchObject({ status: "accepted", duplicate: false });
    if (reply.status !== "accepted") return;
    expect(await f.submit(envelope)).toEqual({ status: "accepted", taskId: reply.taskId, duplicate: true });

    for (const tre of ["a", "b"]) {
      await waitForSettledStream(f.leafJsm[tre]!, streams.inbox, 1);
      const [entry] = await storedEntries(f.leafJsm[tre]!, streams.inbox);
      expect(entry!.subject).toBe(subjects.dispatch(tre, reply.taskId));
      const trust = new TrustStore()
        .add({ publicKey: f.hubKey.publicKey, role: "hub", name: "hub" })
        .add({ publicKey: f.alice.publicKey, role: "researcher", name: "alice" });
      const msg = await f.leafJsm[tre]!.streams.getMessage(streams.inbox, { seq: entry!.seq });
      const opened = openEnvelope(msg!.data, { trust, expect: "dispatch", tre });
      expect(opened.ok && opened.value.type === "dispatch" && opened.value.body.taskId).toBe(reply.taskId);
    }
    // TRE c is not on the task: nothing reaches it.
    expect((await f.leafJsm.c!.streams.info(streams.inbox)).state.messages).toBe(0);
    const task = await f.tasks.get(reply.taskId);
    expect(task).toMatchObject({
      researcher: "alice",
      project: "diabetes",
      dispatched: true,
      state: "dispatched",
    });
  });

  it("refuses forged, expired, replayed, unknown-researcher and unauthorised submissions with a reason, and records each", async () => {
    await using f = await federation();
    const now = Date.now();
    const stranger = key();
    const cases: [string, Uint8Array, string][] = [
      [
        "unknown researcher",
        signSubmission(stranger, { project: "diabetes", tres: ["a"], analysis: count }),
        "unknown_signer",
      ],
      [
        "not a member",
        signSubmission(f.bob, { project: "diabetes", tres: ["a"], analysis: count }),
        "not_a_member",
      ],
      [
        "TRE not on project",
        signSubmission(f.alice, { project: "diabetes", tres: ["a", "c"], analysis: count }),
        "tre_not_in_project",
      ],
      [
        "unknown project",
        signSubmission(f.alice, { project: "nope", tres: ["a"], analysis: count }),
        "unknown_project",
      ],
      [
        "project ended",
        signSubmission(f.alice, { project: "ended", tres: ["a"], analysis: count }),
        "project_inactive",
      ],
      [
        "expired",
        signSubmission(
          f.alice,
          { project: "diabetes", tres: ["a"], analysis: count, validForMs: 1000 },
          now - 60_000,
        ),
        "expired",
      ],
    ];
    // A forged one: alice's submission with its signature replaced by a stranger's over the same bytes.
    const honest = signSubmission(f.alice, { project: "diabetes", tres: ["a"], analysis: count });
    const forged = Uint8Array.from(honest);
    forged[forged.length - 1]! ^= 0xff;
    cases.push(["forged", forged, "bad_signature"]);
    // Same id as an accepted submission, different content.
    const first = signSubmission(f.alice, { project: "diabetes", tres: ["a"], analysis: count });
    const accepted = await f.submit(first);
    expect(accepted.status).toBe("accepted");
    const id = accepted.status === "accepted" ? accepted.taskId : "";
    cases.push([
      "replayed id",
      signSubmission(f.alice, { id, project: "diabetes", tres: ["a", "b"], analysis: count }),
      "replayed",
    ]);

    for (const [what, envelope, code] of cases) {
      const reply = await f.submit(envelope);
      expect({ what, reply }).toMatchObject({ what, reply: { status: "rejected", code } });
      if (reply.status === "rejected") expect(reply.message.length).toBeGreaterThan(5);
    }
    const verified = await verifyAuditLog(f.js, {});
    expect(verified.ok).toBe(true);
    // One accepted task (submitted + dispatched) and one record per refusal.
    if (verified.ok) expect(verified.count).toBe(2 + cases.length);
    // Only the one accepted task reached TRE a.
    await waitForSettledStream(f.leafJsm.a!, streams.inbox, 1);
  });

  it("tracks each TRE's signed status events and derives the parent state", async () => {
    await using f = await federation();
    const reply = await f.submit(
      signSubmission(f.alice, { project: "diabetes", tres: ["a", "b"], analysis: count }),
    );
    if (reply.status !== "accepted") throw new Error("not accepted");
    const leafA = await f.mesh.connectLeaf("a", DMZ_ACCOUNT);
    const jsA = jetstream(leafA);
    const now = Date.now();
    for (const state of ["received", "accepted", "running"] as const) {
      const id = newId(now);
      await jsA.publish(
        subjects.status("a", reply.taskId),
        sealEnvelope(
          "status",
          {
            id,
            iat: now,
            exp: now + DAY,
            taskId: reply.taskId,
            tre: "a",
            state,
            actor: "agent",
            reason: `test ${state}`,
          },
          f.treKeys.a!,
        ),
        { msgID: `a.${id}` },
      );
    }
    // A status event signed by b's key for a is refused and dead-lettered, never applied.
    const id = newId(now);
    await jsA.publish(
      subjects.status("a", reply.taskId),
      sealEnvelope(
        "status",
        { id, iat: now, exp: now + DAY, taskId: reply.taskId, tre: "a", state: "rejected", actor: "x" },
        f.treKeys.b!,
      ),
      { msgID: `a.${id}` },
    );
    const child = await waitFor("a's child to reach running", async () => {
      const children = await f.tasks.children(reply.taskId);
      const a = children.find((c) => c.tre === "a");
      return a?.state === "running" ? a : undefined;
    });
    expect(child.history.map((h) => [h.state, h.actor, h.reason ?? ""])).toEqual([
      ["queued", "hub", ""],
      ["received", "tre:a/agent", "test received"],
      ["accepted", "tre:a/agent", "test accepted"],
      ["running", "tre:a/agent", "test running"],
    ]);
    expect((await f.tasks.get(reply.taskId))?.state).toBe("running");
    const fedJsm = await jetstreamManager(f.fed);
    await waitFor(
      "the forged status to be dead-lettered",
      async () => (await fedJsm.streams.info("DEADLETTER")).state.messages === 1,
    );
  });

  it("moves a child to its Release's outcome by the step the Release carries, recorded once however often it comes", async () => {
    await using f = await federation();
    const reply = await f.submit(
      signSubmission(f.alice, { project: "diabetes", tres: ["a", "b"], analysis: count }),
    );
    if (reply.status !== "accepted") throw new Error("not accepted");
    const now = Date.now();
    const js = {
      a: jetstream(await f.mesh.connectLeaf("a", DMZ_ACCOUNT)),
      b: jetstream(await f.mesh.connectLeaf("b", DMZ_ACCOUNT)),
    };
    const status = async (tre: "a" | "b", state: ChildState, passed: ChildState[]) => {
      const id = newId(now);
      const body = { id, iat: now, exp: now + DAY, taskId: reply.taskId, tre, state, actor: "agent" };
      const steps = passed.map((p) => ({ state: p, at: now }));
      await js[tre].publish(
        subjects.status(tre, reply.taskId),
        sealEnvelope("status", { ...body, passed: steps }, f.treKeys[tre]!),
        { msgID: id },
      );
    };
    // Every output withheld; held at `now`, released a millisecond later, by the airlock.
    const release = (tre: "a" | "b") =>
      sealEnvelope(
        "release",
        {
          id: newId(now + 1),
          iat: now + 1,
          exp: now + DAY,
          taskId: reply.taskId,
          tre,
          decisions: [],
          outputs: [],
          withheld: [{ outputId: newId(), name: "count.json", reason: "small cells" }],
          status: {
            actor: "airlock",
            reason: "1 output(s) withheld after review",
            passed: [{ state: "outputs_pending_review", at: now, actor: "agent" }],
          },
        },
        f.treKeys[tre]!,
      );
    const childOf = async (tre: string) => (await f.tasks.children(reply.taskId)).find((c) => c.tre === tre);
    await status("a", "running", ["received", "accepted"]);
    const fromA = release("a");
    await js.a.publish(subjects.release("a", reply.taskId), fromA, { msgID: "release.a" });
    const a = await waitFor("a's child to be withheld", async () => {
      const child = await childOf("a");
      return child?.state === "withheld" ? child : undefined;
    });
    expect(a.history.map((h) => [h.state, h.actor, h.at - now])).toEqual([
      ["queued", "hub", expect.any(Number)],
      ["received", "tre:a/agent", 0],
      ["accepted", "tre:a/agent", 0],
      ["running", "tre:a/agent", 0],
      ["outputs_pending_review", "tre:a/agent", 0],
      ["withheld", "tre:a/airlock", 1],
    ]);
    expect(a.history.at(-1)?.reason).toBe("1 output(s) withheld after review");

    // b ended the task before (rejected), then sends a Release anyway: stored and recorded, the child stays.
    await status("b", "rejected", ["received"]);
    await waitFor("b's child to be rejected", async () => (await childOf("b"))?.state === "rejected");
    const fromB = release("b");
    await js.b.publish(subjects.release("b", reply.taskId), fromB, { msgID: "release.b" });
    const fedJsm = await jetstreamManager(f.fed);
    const received = async () =>
      (await auditRecords(f.js)).filter((r) => r.action === "release.received").map((r) => r.tre);
    await waitFor("both Releases recorded", async () => (await received()).length === 2);

    // Each Release again, as a source sends a copy after a restart: refused as a replay, recorded no second time.
    await js.a.publish(subjects.release("a", reply.taskId), fromA, { msgID: "release.a.copy" });
    await js.b.publish(subjects.release("b", reply.taskId), fromB, { msgID: "release.b.copy" });
    await waitFor(
      "both copies dead-lettered",
      async () => (await fedJsm.streams.info("DEADLETTER")).state.messages === 2,
    );
    expect((await received()).sort()).toEqual(["a", "b"]);
    expect((await childOf("a"))?.history).toEqual(a.history);
    expect((await childOf("b"))?.state).toBe("rejected");
  });
});
