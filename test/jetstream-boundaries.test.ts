/**
 * The account boundaries of the durable topology on real nats-servers: one TRE's credentials see nothing of
 * another's tasks or results, hub-side credentials cannot reach a TRE's controlled account nor manage its leaf's
 * streams, and FED sees TRE traffic only through the flows declared in the hub config.
 */
import { AckPolicy, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type NatsConnection, RequestError } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { CTRL_ACCOUNT, DMZ_ACCOUNT } from "../leaf/account-names.js";
import { HUB_DOMAIN, jsApiPrefix, newId, streams, subjects } from "../protocol/index.js";
import { type Collector, collect } from "./harness/collect.js";
import { startMesh } from "./harness/mesh.js";
import { storedEntries, waitForSettledStream } from "./harness/stream-contents.js";

/** How long "nothing else arrived" is watched for, after the message that should arrive has arrived. */
const QUIET_WINDOW_MS = 300;

/** The request reaches no subscriber at all: the server has no route for it from this account. */
async function expectNoRoute(nc: NatsConnection, subject: string, payload = ""): Promise<void> {
  const error = await nc.request(subject, payload, { timeout: 5_000 }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error instanceof RequestError && error.isNoResponders(), `no route for ${subject}`).toBe(true);
}

async function streamNames(jsm: JetStreamManager): Promise<string[]> {
  const names: string[] = [];
  for await (const name of jsm.streams.names()) names.push(name);
  return names.sort();
}

/**
 * Subjects a collector saw as plain messages: not JetStream's own plumbing (a source consumer's deliveries,
 * which carry an ack reply, its heartbeats and flow control on the deliver subject).
 */
function appSubjects(c: Collector): string[] {
  return c.messages
    .filter((m) => !(m.reply ?? "").startsWith("$JS.ACK.") && !m.subject.startsWith("tremesh.fed.src."))
    .map((m) => m.subject)
    .filter((s) => s.startsWith("tremesh."));
}

describe("durable topology boundaries", () => {
  it("keeps a's tasks and results from TRE c, through c's leaf or a hub client in TRE_c", async () => {
    await using mesh = await startMesh({ tres: ["a", "c"], streams: true });
    const fedJs = jetstream(await mesh.connectHub(FED_ACCOUNT));
    const aDmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    const cDmz = await mesh.connectLeaf("c", DMZ_ACCOUNT);
    const cAdmin = await mesh.connectHub(treAccountName("c"));

    // a's task and result, and c's own (the positive controls), all the way through.
    const [taskA, taskC] = [newId(), newId()];
    await fedJs.publish(subjects.dispatch("a", taskA), "task for a", { msgID: `dispatch.${taskA}.a` });
    await fedJs.publish(subjects.dispatch("c", taskC), "task for c", { msgID: `dispatch.${taskC}.c` });
    await jetstream(aDmz).publish(subjects.release("a", taskA), "a's release", {
      msgID: `release.a.${taskA}`,
    });
    await jetstream(cDmz).publish(subjects.release("c", taskC), "c's release", {
      msgID: `release.c.${taskC}`,
    });
    const fedJsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));
    await waitForSettledStream(fedJsm, streams.fedResults, 2);
    await waitForSettledStream(await jetstreamManager(aDmz), streams.inbox, 1);
    const cLeafJsm = await jetstreamManager(cDmz);
    await waitForSettledStream(cLeafJsm, streams.inbox, 1);

    // c's leaf: its own INBOX, and through the link the hub's JetStream in TRE_c's account only.
    expect((await storedEntries(cLeafJsm, streams.inbox)).map((m) => m.subject)).toEqual([
      subjects.dispatch("c", taskC),
    ]);
    const viaCLeaf = await jetstreamManager(cDmz, { domain: HUB_DOMAIN });
    // c's hub client: the same account, so the same view.
    const cHubJsm = await jetstreamManager(cAdmin);
    for (const jsm of [viaCLeaf, cHubJsm]) {
      expect(await streamNames(jsm)).toEqual([streams.results("c"), streams.tasks].sort());
      expect((await storedEntries(jsm, streams.tasks)).map((m) => m.subject)).toEqual([
        subjects.dispatch("c", taskC),
      ]);
      expect((await storedEntries(jsm, streams.results("c"))).map((m) => m.subject)).toEqual([
        subjects.release("c", taskC),
      ]);
      await expect(jsm.streams.info(streams.results("a"))).rejects.toMatchObject({ code: 10059 });
      await expect(jsm.streams.getMessage(streams.results("a"), { seq: 1 })).rejects.toMatchObject({
        code: 10059,
      });
      await expect(
        jsm.consumers.add(streams.results("a"), { ack_policy: AckPolicy.None, deliver_subject: "x" }),
      ).rejects.toMatchObject({ code: 10059 });
      // A consumer on its own TASKS filtered to a's subjects finds nothing: a's tasks are in another account.
      const probe = await jsm.consumers.add(streams.tasks, {
        ack_policy: AckPolicy.None,
        filter_subject: subjects.treInbound("a"),
      });
      expect(probe.num_pending).toBe(0);
      await jsm.consumers.delete(streams.tasks, probe.name);
    }
    // FED's imports from TRE_a are FED's alone, and c's hub account cannot put a task into a's TASKS.
    await expectNoRoute(
      cAdmin,
      `${subjects.jsConsumerCreate(streams.results("a"), subjects.fedSourceApi("a"))}.x.y`,
    );
    await expect(jetstream(cAdmin).publish(subjects.dispatch("a", newId()), "forged")).rejects.toMatchObject({
      name: "JetStreamNotEnabled", // what the client calls a JetStream publish nothing answers
    });
    await expectNoRoute(cAdmin, `${jsApiPrefix("a")}.INFO`);

    // Live traffic of a (a task and a result) while c listens to everything it can: c sees only its own.
    const seenByCLeaf = collect(cDmz, ">");
    const seenByCHub = collect(cAdmin, ">");
    const aInbound = collect(aDmz, subjects.treInbound("a"));
    await Promise.all([cDmz.flush(), cAdmin.flush(), aDmz.flush()]);
    await mesh.waitForHubInterest("c", ">");
    await mesh.waitForHubInterest("a", subjects.treInbound("a"));
    const [liveA, liveC] = [newId(), newId()];
    await fedJs.publish(subjects.dispatch("a", liveA), "live task for a", { msgID: `dispatch.${liveA}.a` });
    await jetstream(aDmz).publish(subjects.status("a", liveA), "a is running", {
      msgID: `status.a.${liveA}`,
    });
    await waitFor("a's DMZ to get its live task", () => aInbound.messages.length > 0);
    await waitForSettledStream(fedJsm, streams.fedResults, 3);
    await fedJs.publish(subjects.dispatch("c", liveC), "live task for c", { msgID: `dispatch.${liveC}.c` });
    await waitFor("c's leaf to get its live task", () =>
      appSubjects(seenByCLeaf).includes(subjects.dispatch("c", liveC)),
    );
    await waitFor("c's hub client to see its live task", () =>
      appSubjects(seenByCHub).includes(subjects.dispatch("c", liveC)),
    );
    await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));
    for (const seen of [seenByCLeaf, seenByCHub]) {
      expect(appSubjects(seen).filter((s) => s.includes(".tre.a."))).toEqual([]);
      expect(seen.subjects().filter((s) => s.includes("RESULTS_a") || s.includes(".src.a."))).toEqual([]);
    }
  });

  it("gives hub-side TRE_a credentials nothing in a's CTRL and no control of a's leaf streams, while sourcing works", async () => {
    await using mesh = await startMesh({ tres: ["a"], streams: true });
    const aDmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    const aCtrl = await mesh.connectLeaf("a", CTRL_ACCOUNT);
    const aAdmin = await mesh.connectHub(treAccountName("a"));
    const fedJs = jetstream(await mesh.connectHub(FED_ACCOUNT));
    const dmzJsm = await jetstreamManager(aDmz);

    // The agent's private state in CTRL, and its consumer on INBOX holding one unacknowledged task.
    const airlock = `AIRLOCK_${mesh.token}`;
    const ctrlSubject = `ctrl.${mesh.token}.pending`;
    const ctrlJsm = await jetstreamManager(aCtrl);
    await ctrlJsm.streams.add({ name: airlock, subjects: [`ctrl.${mesh.token}.>`] });
    await jetstream(aCtrl).publish(ctrlSubject, "pending output");
    const seenInCtrl = collect(aCtrl, ">");
    await aCtrl.flush();
    const taskId = newId();
    await fedJs.publish(subjects.dispatch("a", taskId), "task", { msgID: `dispatch.${taskId}.a` });
    await jetstream(aDmz).publish(subjects.status("a", taskId), "received", { msgID: `status.a.${taskId}` });
    await waitForSettledStream(dmzJsm, streams.inbox, 1);
    await dmzJsm.consumers.add(streams.inbox, { durable_name: "agent", ack_policy: AckPolicy.Explicit });
    const pending = await (await jetstream(aDmz).consumers.get(streams.inbox, "agent")).next();
    const ackSubject = (pending as unknown as { reply: string }).reply;
    expect(ackSubject).toMatch(/^\$JS\.ACK\.INBOX\.agent\./);

    // What the leaf lets the hub send it: exactly the sourcing plumbing and the one mapped API call.
    const announced = (await mesh.hubLink("a", { subs: true }))?.subscriptions_list ?? [];
    const createOnOutbox = subjects.jsConsumerCreate(streams.outbox, subjects.outboxSourceApi("a"));
    expect(announced).toContain(createOnOutbox);
    expect(
      announced.filter(
        (s) =>
          s !== createOnOutbox &&
          !/^\$JS\.FC\.OUTBOX\.[^.]+\.\*$/.test(s) && // flow control of the hub's consumer on OUTBOX
          !/^\$JS\.S\.[^.]+$/.test(s) && // INBOX's deliver subject
          !/^\$LDS\./.test(s) && // nats-server's loop detection
          !/^_INBOX\./.test(s), // replies to the DMZ clients' own requests
      ),
    ).toEqual([]);

    // From the hub, none of the leaf's JetStream API, acks, system requests or OUTBOX's subjects has a route.
    const leafApi = jsApiPrefix("a");
    for (const subject of [
      `${leafApi}.INFO`,
      `${leafApi}.STREAM.DELETE.${streams.outbox}`,
      `${leafApi}.STREAM.PURGE.${streams.outbox}`,
      `${leafApi}.STREAM.UPDATE.${streams.outbox}`,
      `${leafApi}.STREAM.MSG.DELETE.${streams.outbox}`,
      `${leafApi}.STREAM.DELETE.${streams.inbox}`,
      `${leafApi}.STREAM.PURGE.${streams.inbox}`,
      `${leafApi}.STREAM.INFO.${streams.outbox}`,
      `${leafApi}.STREAM.CREATE.EVIL`,
      `${leafApi}.CONSUMER.DELETE.${streams.inbox}.agent`,
      `${leafApi}.CONSUMER.CREATE.${streams.outbox}`,
      `${leafApi}.DIRECT.GET.${streams.outbox}`,
      `${leafApi}.STREAM.INFO.${airlock}`,
      `${subjects.outboxSourceApi("a")}.STREAM.DELETE.${streams.outbox}`,
      ackSubject,
      subjects.status("a", newId()),
      ctrlSubject,
    ]) {
      await expectNoRoute(aAdmin, subject);
    }
    await expect(jetstreamManager(aAdmin, { domain: "a", timeout: 2_000 })).rejects.toMatchObject({
      name: "JetStreamNotEnabled",
    });

    // Even when a DMZ client listens to everything (so the hub has a route for every subject), the hub drops
    // what the leaf refuses. Messages from one connection keep their order over the link, so once the last one
    // (an ordinary task) has arrived, any of the others would have arrived before it.
    const seenInDmz = collect(aDmz, ">");
    await aDmz.flush();
    await mesh.waitForHubInterest("a", ">");
    const refused = [
      `${leafApi}.STREAM.DELETE.${streams.outbox}`,
      `${leafApi}.STREAM.PURGE.${streams.inbox}`,
      ackSubject,
      "$SYS.REQ.ACCOUNT.PING.CONNZ",
      subjects.status("a", newId()),
    ];
    for (const subject of refused) aAdmin.publish(subject, "");
    const marker = `marker.${mesh.token}`; // captured by no stream
    aAdmin.publish(marker, "marker");
    await waitFor("the marker to cross the link", () => seenInDmz.subjects().includes(marker));
    expect(seenInDmz.subjects().filter((s) => refused.includes(s))).toEqual([]);

    // All still there: the leaf's streams, the agent's pending ack, CTRL's data (which saw nothing at all).
    expect((await dmzJsm.streams.info(streams.outbox)).state.messages).toBe(1);
    expect((await dmzJsm.streams.info(streams.inbox)).state.messages).toBe(1);
    expect((await dmzJsm.consumers.info(streams.inbox, "agent")).num_ack_pending).toBe(1);
    expect((await ctrlJsm.streams.info(airlock)).state.messages).toBe(1);
    expect(seenInCtrl.subjects().filter((s) => [...refused, marker, ctrlSubject].includes(s))).toEqual([]);
    pending?.ack();

    // The one JetStream call the hub has: creating a consumer on OUTBOX, which is how it sources it.
    const viaMapping = await jetstreamManager(aAdmin, {
      apiPrefix: subjects.outboxSourceApi("a"),
      checkAPI: false,
    });
    const reader = await viaMapping.consumers.add(streams.outbox, {
      ack_policy: AckPolicy.None,
      deliver_subject: `read.${mesh.token}`,
    });
    expect(reader.num_pending).toBe(1);

    // And the sourcing in both directions still works.
    const later = newId();
    await fedJs.publish(subjects.dispatch("a", later), "later task", { msgID: `dispatch.${later}.a` });
    await jetstream(aDmz).publish(subjects.release("a", later), "later release", {
      msgID: `release.a.${later}`,
    });
    await waitForSettledStream(dmzJsm, streams.inbox, 2);
    await waitForSettledStream(await jetstreamManager(aAdmin), streams.results("a"), 2);
    await waitForSettledStream(
      await jetstreamManager(await mesh.connectHub(FED_ACCOUNT)),
      streams.fedResults,
      2,
    );
  });

  it("shows FED a TRE's traffic only through the declared flows", async () => {
    await using mesh = await startMesh({ tres: ["a"], streams: true });
    const fed = await mesh.connectHub(FED_ACCOUNT);
    const aDmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    const aAdmin = await mesh.connectHub(treAccountName("a"));
    const fedJsm = await jetstreamManager(fed);

    // FED's own JetStream holds only the view; the TRE account's and the leaf's are out of reach, and of the
    // TRE account's API FED has only consumer create on RESULTS_a (filtered form). Checked before anything in
    // FED listens to `>`, which would be a route for every request.
    expect(await streamNames(fedJsm)).toEqual([streams.fedResults]);
    await expect(fedJsm.streams.info(streams.tasks)).rejects.toMatchObject({ code: 10059 });
    const viaImport = subjects.fedSourceApi("a");
    await expectNoRoute(fed, `${viaImport}.STREAM.INFO.${streams.results("a")}`);
    await expectNoRoute(fed, `${viaImport}.STREAM.PURGE.${streams.results("a")}`);
    await expectNoRoute(fed, `${viaImport}.STREAM.MSG.GET.${streams.results("a")}`);
    await expectNoRoute(fed, subjects.jsConsumerCreate(streams.results("a"), viaImport));
    await expectNoRoute(fed, `${subjects.jsConsumerCreate(streams.tasks, viaImport)}.x.y`);
    await expectNoRoute(fed, `${jsApiPrefix("a")}.INFO`);
    await expectNoRoute(fed, subjects.status("a", newId()));
    await expect(jetstreamManager(fed, { domain: "a", timeout: 2_000 })).rejects.toMatchObject({
      name: "JetStreamNotEnabled",
    });

    const seenByFed = collect(fed, ">");
    await fed.flush();
    await mesh.waitForLeafInterest("a", subjects.heartbeat("a"));
    // Undeclared: a TRE sending to the hub's submission subject, or a result outside OUTBOX (core NATS, in a's
    // hub account); a status goes only to OUTBOX.
    const taskId = newId();
    aDmz.publish(subjects.submit, "");
    aAdmin.publish(subjects.submit, "");
    aAdmin.publish(subjects.release("a", newId()), "");
    await jetstream(aDmz).publish(subjects.status("a", taskId), "received", { msgID: `status.a.${taskId}` });
    await aAdmin.flush();
    // Declared: the heartbeat (last from the leaf, so anything undeclared from it would already be here).
    aDmz.publish(subjects.heartbeat("a"), "alive");
    await waitFor("FED to get a's heartbeat", () => seenByFed.subjects().includes(subjects.heartbeat("a")));
    await waitForSettledStream(fedJsm, streams.fedResults, 1);
    await new Promise((resolve) => setTimeout(resolve, QUIET_WINDOW_MS));

    expect(appSubjects(seenByFed)).toEqual([subjects.heartbeat("a")]);
    // The status reached FED only as a stored message of the view, through its source consumer's deliveries.
    expect((await storedEntries(fedJsm, streams.fedResults)).map((m) => m.subject)).toEqual([
      subjects.status("a", taskId),
    ]);
    const statusSeen = seenByFed.messages.filter((m) => m.subject === subjects.status("a", taskId));
    expect(statusSeen.length).toBeGreaterThan(0);
    expect(statusSeen.every((m) => m.reply?.startsWith(`$JS.ACK.${streams.results("a")}.`))).toBe(true);
  });

  it("takes into the FED view only the subjects of the TRE whose results stream they came through", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"], streams: true });
    const aDmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    // A misbehaving TRE a widens its own OUTBOX to b's subjects (its DMZ user may) and writes one as b.
    const dmzJsm = await jetstreamManager(aDmz);
    await dmzJsm.streams.update(streams.outbox, {
      subjects: [...subjects.outboxFilters("a"), ...subjects.outboxFilters("b")],
    });
    const js = jetstream(aDmz);
    const [forged, own] = [newId(), newId()];
    await js.publish(subjects.release("b", forged), "pretending to be b", { msgID: `release.b.${forged}` });
    await js.publish(subjects.release("a", own), "a's own", { msgID: `release.a.${own}` });

    // a's hub account keeps what a sent; the FED view, whose consumer runs on the hub, takes only a's subjects.
    const treJsm = await jetstreamManager(await mesh.connectHub(treAccountName("a")));
    await waitForSettledStream(treJsm, streams.results("a"), 2);
    const fedJsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));
    await waitForSettledStream(fedJsm, streams.fedResults, 1);
    const view = await storedEntries(fedJsm, streams.fedResults);
    expect(view.map((m) => m.subject)).toEqual([subjects.release("a", own)]);
    expect(view[0]?.source.split(" ")[0]?.split(":")[0]).toBe(streams.results("a"));
  });
});
