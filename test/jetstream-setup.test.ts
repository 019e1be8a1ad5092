/**
 * Setting up the durable topology on real nats-servers: every ensure function is safe to call on every start,
 * changes what it is asked to change, and a TRE can join the FED view later.
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { ensureFedStreams, ensureTreStreams } from "../hub/streams.js";
import { DMZ_ACCOUNT } from "../leaf/account-names.js";
import { ensureLeafStreams } from "../leaf/streams.js";
import { newId, streams, subjects } from "../protocol/index.js";
import { startMesh } from "./harness/mesh.js";
import { storedEntries, waitForSettledStream } from "./harness/stream-contents.js";

const DAY_MS = 86_400_000;

describe("durable topology set-up", () => {
  it("is idempotent, applies changed options, and adds a TRE to the FED view later", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const hubJsm = {
      a: await jetstreamManager(await mesh.connectHub(treAccountName("a"))),
      b: await jetstreamManager(await mesh.connectHub(treAccountName("b"))),
    };
    const dmz = {
      a: await mesh.connectLeaf("a", DMZ_ACCOUNT),
      b: await mesh.connectLeaf("b", DMZ_ACCOUNT),
    };
    const fedJsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));
    for (const tre of ["a", "b"] as const) {
      const { tasks, results } = await ensureTreStreams(hubJsm[tre], { tre });
      expect(tasks.config).toMatchObject({ retention: "limits", max_age: 14 * DAY_MS * 1e6 });
      expect(results.config.name).toBe(streams.results(tre));
      await ensureLeafStreams(await jetstreamManager(dmz[tre]), { tre });
    }
    // The FED view knows only a at first.
    await ensureFedStreams(fedJsm, { tres: ["a"] });

    const ids = { a: newId(), b: newId() };
    for (const tre of ["a", "b"] as const) {
      await jetstream(dmz[tre]).publish(subjects.status(tre, ids[tre]), tre, {
        msgID: `status.${tre}.${ids[tre]}`,
      });
      await waitForSettledStream(hubJsm[tre], streams.results(tre), 1);
    }
    await waitForSettledStream(fedJsm, streams.fedResults, 1);

    // b joins: its results (already waiting in RESULTS_b) come in, a's are not copied again.
    const view = await ensureFedStreams(fedJsm, { tres: ["a", "b"] });
    expect(view.config.sources?.map((s) => s.name)).toEqual([streams.results("a"), streams.results("b")]);
    await waitForSettledStream(fedJsm, streams.fedResults, 2);

    // Every ensure again, as on a restart of everything: nothing is recreated, re-sourced or lost.
    await mesh.ensureStreams();
    await mesh.ensureStreams();
    const id = newId();
    await jetstream(dmz.a).publish(subjects.release("a", id), "a", { msgID: `release.a.${id}` });
    await waitForSettledStream(fedJsm, streams.fedResults, 3);
    expect((await storedEntries(fedJsm, streams.fedResults)).map((m) => m.msgId)).toEqual([
      `status.a.${ids.a}`,
      `status.b.${ids.b}`,
      `release.a.${id}`,
    ]);
    expect((await hubJsm.a.streams.info(streams.results("a"))).state.messages).toBe(2);

    // A changed option is applied in place.
    const { tasks } = await ensureTreStreams(hubJsm.a, { tre: "a", tasksMaxAgeMs: 3 * DAY_MS });
    expect(tasks.config.max_age).toBe(3 * DAY_MS * 1e6);
    expect(tasks.config.subjects).toEqual([subjects.treInbound("a")]);
  });
});
