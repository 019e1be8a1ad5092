/**
 * The harness's fault-test foundation: a restarted hub or leaf comes back on the same URLs, the TRE
 * dials back in by itself, and tasks route again.
 */
import { describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { DMZ_ACCOUNT } from "../leaf/account-names.js";
import { newId, subjects } from "../protocol/index.js";
import { collect } from "./harness/collect.js";
import { startMesh } from "./harness/mesh.js";

describe("mesh restarts", () => {
  it("routes a TRE's tasks again after the hub restarts", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const hubUrl = mesh.hub.server.clientUrl;
    const dmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    const inbound = collect(dmz, subjects.treInbound("a"));
    await dmz.flush();

    await mesh.hub.server.restart();
    expect(mesh.hub.server.clientUrl).toBe(hubUrl);
    await mesh.waitForLinks();
    await mesh.waitForHubInterest("a", subjects.treInbound("a"));

    const fed = await mesh.connectHub(FED_ACCOUNT);
    const subject = subjects.dispatch("a", newId());
    fed.publish(subject, "after hub restart");
    await waitFor("a's DMZ to get the task", () => inbound.messages.length > 0);
    expect(inbound.subjects()).toEqual([subject]);
  });

  it("brings a TRE's link back, bound to its account, after the leaf restarts", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const before = await mesh.hubLink("a");
    await mesh.leaves.a!.server.restart();
    // A new connection comes from a new ephemeral port; the old one must not be mistaken for it.
    const after = await waitFor("a's new leaf link", async () => {
      const link = await mesh.hubLink("a");
      return link !== undefined && link.port !== before?.port ? link : undefined;
    });
    expect(after.account).toBe(treAccountName("a"));
    expect((await mesh.hubLink("b"))?.account).toBe(treAccountName("b"));
  });
});
