/**
 * The mesh's durable flows on real nats-servers: tasks wait in the hub's TASKS for a TRE that is offline,
 * results wait in the leaf's OUTBOX while the hub is down, and each arrives exactly once when the other side
 * returns, in the TRE's INBOX, in the TRE account's RESULTS_<tre> and in FED's view TRE_RESULTS.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { resumeStaleSources } from "../common/source-restarts.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { DMZ_ACCOUNT } from "../leaf/account-names.js";
import { HUB_DOMAIN, jsApiPrefix, newId, streams, subjects } from "../protocol/index.js";
import { startMesh } from "./harness/mesh.js";
import { storedEntries, waitForSettledStream } from "./harness/stream-contents.js";

/** nats-server waits 30 s for an unanswered source-consumer request (a link not yet back) before it retries. */
const CATCH_UP_TIMEOUT_MS = 75_000;

describe("durable mesh flows", () => {
  it(
    "keeps 100 tasks for a TRE whose leaf is offline and delivers each exactly once when it returns",
    async () => {
      await using mesh = await startMesh({ tres: ["a"], streams: true });
      const leaf = mesh.leaves.a!;
      await leaf.server.stop();
      await waitFor("the hub to see a's link go", async () => (await mesh.hubLink("a")) === undefined);

      const fed = await mesh.connectHub(FED_ACCOUNT);
      const js = jetstream(fed);
      const tasks = Array.from({ length: 100 }, () => newId());
      const acks = [];
      for (const taskId of tasks) {
        // Each task twice with the same id, as a dispatcher retrying after a crash would.
        for (let attempt = 0; attempt < 2; attempt++) {
          acks.push(
            await js.publish(subjects.dispatch("a", taskId), `task ${taskId}`, {
              msgID: `dispatch.${taskId}.a`,
            }),
          );
        }
      }
      expect(acks.filter((a) => !a.duplicate)).toHaveLength(100);
      expect(acks.filter((a) => a.duplicate)).toHaveLength(100);
      expect(new Set(acks.map((a) => `${a.stream}@${a.domain}`))).toEqual(new Set(["TASKS@hub"]));
      const hubJsm = await jetstreamManager(await mesh.connectHub(treAccountName("a")));
      expect((await hubJsm.streams.info(streams.tasks)).state.messages).toBe(100);

      const offlineSince = performance.now();
      await leaf.server.restart();
      await mesh.waitForLinks();
      const dmzJsm = await jetstreamManager(await mesh.connectLeaf("a", DMZ_ACCOUNT));
      await waitForSettledStream(dmzJsm, streams.inbox, 100, CATCH_UP_TIMEOUT_MS);
      const caughtUpMs = Math.round(performance.now() - offlineSince);

      const inbox = await storedEntries(dmzJsm, streams.inbox);
      expect(inbox.map((m) => m.subject)).toEqual(tasks.map((id) => subjects.dispatch("a", id)));
      expect(inbox.map((m) => m.msgId)).toEqual(tasks.map((id) => `dispatch.${id}.a`));
      expect(inbox.map((m) => m.data)).toEqual(tasks.map((id) => `task ${id}`));
      expect(inbox.every((m) => m.source.startsWith(`${streams.tasks}:`))).toBe(true);
      // The hub's copy is untouched by the leaf's collection (Limits retention, never a work queue).
      expect((await hubJsm.streams.info(streams.tasks)).state.messages).toBe(100);
      console.info(`INBOX caught up ${caughtUpMs} ms after the leaf restarted`);
    },
    CATCH_UP_TIMEOUT_MS + 30_000,
  );

  it(
    "delivers status events and releases written while the hub is down once each to RESULTS_<tre> and the FED view",
    async () => {
      await using mesh = await startMesh({ tres: ["a", "b"], streams: true });
      const dmz = {
        a: jetstream(await mesh.connectLeaf("a", DMZ_ACCOUNT)),
        b: jetstream(await mesh.connectLeaf("b", DMZ_ACCOUNT)),
      };
      // One message per TRE while all is up, so the sources are known to work before the outage.
      const before = { a: newId(), b: newId() };
      for (const tre of ["a", "b"] as const) {
        await dmz[tre].publish(subjects.status(tre, before[tre]), "before", {
          msgID: `status.${tre}.${before[tre]}.received`,
        });
      }
      const fedBefore = await mesh.connectHub(FED_ACCOUNT);
      await waitForSettledStream(await jetstreamManager(fedBefore), streams.fedResults, 2);
      await fedBefore.close();

      await mesh.hub.server.stop();
      // The leaves keep working offline: OUTBOX is theirs. 20 events per TRE, each published twice.
      const during = { a: [] as string[], b: [] as string[] };
      for (const tre of ["a", "b"] as const) {
        for (let i = 0; i < 10; i++) {
          const taskId = newId();
          for (const [subject, msgID] of [
            [subjects.status(tre, taskId), `status.${tre}.${taskId}.released`],
            [subjects.release(tre, taskId), `release.${tre}.${taskId}`],
          ] as const) {
            const first = await dmz[tre].publish(subject, msgID, { msgID });
            const again = await dmz[tre].publish(subject, msgID, { msgID });
            expect([first.stream, first.duplicate, again.duplicate]).toEqual([streams.outbox, false, true]);
            during[tre].push(msgID);
          }
        }
      }

      const downSince = performance.now();
      await mesh.hub.server.restart();
      await mesh.waitForLinks();
      for (const tre of ["a", "b"] as const) {
        const treJsm = await jetstreamManager(await mesh.connectHub(treAccountName(tre)));
        await waitForSettledStream(treJsm, streams.results(tre), 21, CATCH_UP_TIMEOUT_MS);
        const results = await storedEntries(treJsm, streams.results(tre));
        expect(results.map((m) => m.msgId)).toEqual([
          `status.${tre}.${before[tre]}.received`,
          ...during[tre],
        ]);
        expect(results.every((m) => m.subject.startsWith(`tremesh.tre.${tre}.out.`))).toBe(true);
      }
      const fedJsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));
      await waitForSettledStream(fedJsm, streams.fedResults, 42, CATCH_UP_TIMEOUT_MS);
      const caughtUpMs = Math.round(performance.now() - downSince);

      const view = await storedEntries(fedJsm, streams.fedResults);
      const ids = view.map((m) => m.msgId);
      expect(new Set(ids).size).toBe(42);
      expect(new Set(ids)).toEqual(
        new Set([...during.a, ...during.b, `status.a.${before.a}.received`, `status.b.${before.b}.received`]),
      );
      // Each TRE's messages keep their order, and name the TRE's own results stream as their source.
      for (const tre of ["a", "b"] as const) {
        const mine = view.filter((m) => m.subject.startsWith(`tremesh.tre.${tre}.`));
        expect(mine.map((m) => m.msgId).slice(1)).toEqual(during[tre]);
        expect(mine.every((m) => m.source.startsWith(`${streams.results(tre)}:`))).toBe(true);
      }
      console.info(`RESULTS_<tre> and the FED view caught up ${caughtUpMs} ms after the hub restarted`);
    },
    CATCH_UP_TIMEOUT_MS * 2 + 30_000,
  );

  it("resumes the sources at once when asked after the hub restarts, without loss or duplicates", async () => {
    await using mesh = await startMesh({ tres: ["a"], streams: true });
    const dmzJs = jetstream(await mesh.connectLeaf("a", DMZ_ACCOUNT));
    const statusIds: string[] = [];
    const publishStatus = async () => {
      const taskId = newId();
      statusIds.push(`status.a.${taskId}.running`);
      await dmzJs.publish(subjects.status("a", taskId), "running", { msgID: statusIds.at(-1)! });
    };
    await publishStatus();
    const fedBefore = await mesh.connectHub(FED_ACCOUNT);
    await waitForSettledStream(await jetstreamManager(fedBefore), streams.fedResults, 1);
    await fedBefore.close();

    await mesh.hub.server.stop();
    for (let i = 0; i < 9; i++) await publishStatus();
    const downSince = performance.now();
    await mesh.hub.server.restart();
    await mesh.waitForLinks();
    // What each side's source needs from the link: the hub the leaf's consumer-create subject, the leaf the hub's API.
    await mesh.waitForHubInterest(
      "a",
      subjects.jsConsumerCreate(streams.outbox, subjects.outboxSourceApi("a")),
    );
    await mesh.waitForLeafInterest("a", `${jsApiPrefix(HUB_DOMAIN)}.CONSUMER.>`);

    const treJsm = await jetstreamManager(await mesh.connectHub(treAccountName("a")));
    const fedJsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));
    const dmzJsm = await jetstreamManager(await mesh.connectLeaf("a", DMZ_ACCOUNT));
    // The results stream asked for its consumer while the leaf was still reconnecting: that request is lost.
    expect(await resumeStaleSources(treJsm, streams.results("a"))).toEqual([streams.outbox]);
    await resumeStaleSources(fedJsm, streams.fedResults);
    // INBOX's consumer died with the hub, but its last heartbeat is too recent to look stale: restart it anyway.
    expect(await resumeStaleSources(dmzJsm, streams.inbox, { staleAfterMs: 0 })).toEqual([streams.tasks]);

    const tasks = Array.from({ length: 5 }, () => newId());
    const fedJs = jetstream(await mesh.connectHub(FED_ACCOUNT));
    for (const taskId of tasks) {
      await fedJs.publish(subjects.dispatch("a", taskId), "task", { msgID: `dispatch.${taskId}.a` });
    }
    // Well under the 30 s nats-server waits for a lost consumer request before trying again.
    const RESUMED_MS = 20_000;
    await waitForSettledStream(treJsm, streams.results("a"), 10, RESUMED_MS);
    await waitForSettledStream(fedJsm, streams.fedResults, 10, RESUMED_MS);
    await waitForSettledStream(dmzJsm, streams.inbox, 5, RESUMED_MS);
    const caughtUpMs = Math.round(performance.now() - downSince);

    expect((await storedEntries(treJsm, streams.results("a"))).map((m) => m.msgId)).toEqual(statusIds);
    expect((await storedEntries(fedJsm, streams.fedResults)).map((m) => m.msgId)).toEqual(statusIds);
    expect((await storedEntries(dmzJsm, streams.inbox)).map((m) => m.msgId)).toEqual(
      tasks.map((id) => `dispatch.${id}.a`),
    );
    // Idempotent: nothing stale any more, so nothing is restarted; and the streams' own config is unchanged.
    expect(await resumeStaleSources(treJsm, streams.results("a"))).toEqual([]);
    for (const [jsm, stream] of [
      [treJsm, streams.results("a")],
      [fedJsm, streams.fedResults],
      [dmzJsm, streams.inbox],
    ] as const) {
      const { config } = await jsm.streams.info(stream);
      expect([stream, config.subjects ?? []]).toEqual([stream, []]);
      expect(config.sources).toHaveLength(1);
    }
    console.info(`resumed: everything caught up ${caughtUpMs} ms after the hub restarted`);
  });
});
