/**
 * The mesh's routing boundaries on real nats-servers: a TRE gets its own tasks and nothing else, the
 * hub never dials out, and a leaf link without the right credential gets nothing at all.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { fetchLeafz, randomPassword, toNatsConf, waitFor } from "../common/index.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { CTRL_ACCOUNT, DMZ_ACCOUNT } from "../leaf/account-names.js";
import { HUB_DOMAIN, newId, streams, subjects } from "../protocol/index.js";
import { collect } from "./harness/collect.js";
import { startMesh } from "./harness/mesh.js";

/** How long "nothing else arrived" is watched for, after the message that should arrive has arrived. */
const QUIET_WINDOW_MS = 300;

/** A leaf URL carrying a credential, the way a leaf remote presents it. */
function leafUrlWith(url: string, user: string, password: string): string {
  const withAuth = new URL(url);
  withAuth.username = user;
  withAuth.password = password;
  return withAuth.toString();
}

describe("mesh routing", () => {
  it("delivers a dispatch for TRE a to a's DMZ account only, never to b or to a's CTRL", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const fed = await mesh.connectHub(FED_ACCOUNT);
    const [aDmz, aCtrl, bDmz, bCtrl] = await Promise.all([
      mesh.connectLeaf("a", DMZ_ACCOUNT),
      mesh.connectLeaf("a", CTRL_ACCOUNT),
      mesh.connectLeaf("b", DMZ_ACCOUNT),
      mesh.connectLeaf("b", CTRL_ACCOUNT),
    ]);
    const seen = {
      aDmz: collect(aDmz, ">"),
      aCtrl: collect(aCtrl, ">"),
      bDmz: collect(bDmz, ">"),
      bCtrl: collect(bCtrl, ">"),
    };
    await Promise.all([aDmz.flush(), aCtrl.flush(), bDmz.flush(), bCtrl.flush()]);
    await mesh.waitForHubInterest("a", ">");
    await mesh.waitForHubInterest("b", ">");

    const forA = subjects.dispatch("a", newId());
    fed.publish(forA, "task for a");
    await waitFor("a's DMZ to get its task", () => seen.aDmz.messages.length > 0);
    // Positive control: b's subscriptions work, so b's silence about a's task means something.
    const forB = subjects.dispatch("b", newId());
    fed.publish(forB, "task for b");
    await waitFor("b's DMZ to get its task", () => seen.bDmz.messages.length > 0);
    await fed.flush();
    await sleep(QUIET_WINDOW_MS);

    expect(seen.aDmz.subjects()).toEqual([forA]);
    expect(seen.aDmz.messages[0]?.string()).toBe("task for a");
    expect(seen.bDmz.subjects()).toEqual([forB]);
    expect(seen.aCtrl.subjects()).toEqual([]);
    expect(seen.bCtrl.subjects()).toEqual([]);
  });

  it("has TREs dial out to the hub and the hub dial nowhere, each link bound to its TRE's account", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const hubLeafUrl = mesh.hub.server.leafUrl!;
    const hubLeafPort = Number(new URL(hubLeafUrl).port);

    // The configs: no outbound leaf, route or gateway connection on the hub; a remote to the hub on each leaf.
    expect(mesh.hub.configText).not.toMatch(/\bremotes\b|\broutes\b|\bgateways?\b|\bcluster\b/);
    for (const leaf of Object.values(mesh.leaves)) {
      expect(leaf.configText).toMatch(/\bremotes\b/);
      expect(leaf.configText).toContain(`@127.0.0.1:${hubLeafPort}`);
      expect(leaf.configText).not.toMatch(/^ {2}port:/m); // no leafnode listener: nothing can dial into a TRE
    }

    // The running servers: every link on the hub was accepted (not dialled), bound to that TRE's account.
    const hubLeafz = await fetchLeafz(mesh.hub.server.monitorUrl!);
    expect(hubLeafz.leafs).toHaveLength(2);
    for (const [tre, leaf] of Object.entries(mesh.leaves)) {
      const link = hubLeafz.leafs.find((l) => l.name === leaf.model.serverName);
      expect(link, `hub link of ${tre}`).toMatchObject({ is_spoke: false, account: treAccountName(tre) });
      expect(link?.port).not.toBe(hubLeafPort); // the leaf's ephemeral port: it called us

      const leafLeafz = await fetchLeafz(leaf.server.monitorUrl!);
      expect(leafLeafz.leafs).toHaveLength(1);
      expect(leafLeafz.leafs[0]).toMatchObject({
        name: mesh.hub.model.serverName,
        is_spoke: true,
        account: DMZ_ACCOUNT,
        port: hubLeafPort,
      });
    }
  });

  it("refuses a leaf that presents no credentials", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const anonName = `anon-${mesh.token}`;
    const anon = await mesh.startServer(
      "anon-leaf",
      toNatsConf({
        server_name: anonName,
        host: "127.0.0.1",
        port: -1,
        http_port: -1,
        leafnodes: { remotes: [{ urls: [mesh.hub.server.leafUrl!] }] },
      }),
    );

    await waitFor("the anonymous leaf to be refused", async () =>
      (await anon.readLog()).includes("Leafnode Error 'Authorization Violation'"),
    );
    expect(await mesh.hub.server.readLog()).toContain("Leafnode connection closed: Authentication Failure");
    const hubLinks = (await fetchLeafz(mesh.hub.server.monitorUrl!)).leafs.map((l) => l.name);
    expect(hubLinks).not.toContain(anonName);
    expect(hubLinks).toContain(mesh.leaves.a!.model.serverName);
    expect((await fetchLeafz(anon.monitorUrl!)).leafnodes).toBe(0);
  });

  it("refuses a leaf that presents a hub client user's credentials", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const fedUser = mesh.hub.model.fed.users[0]!;
    const name = `fed-as-leaf-${mesh.token}`;
    const impostor = await mesh.startServer(
      "fed-as-leaf",
      toNatsConf({
        server_name: name,
        host: "127.0.0.1",
        port: -1,
        leafnodes: {
          remotes: [{ urls: [leafUrlWith(mesh.hub.server.leafUrl!, fedUser.user, fedUser.password)] }],
        },
      }),
    );

    await waitFor("the leaf with FED's client credentials to be refused", async () =>
      (await impostor.readLog()).includes("Authorization Violation"),
    );
    expect(await mesh.hubLink(name)).toBeUndefined();
  });

  it("keeps b's tasks from a leaf that uses a's credentials, whatever account names it claims", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const aLeaf = mesh.hub.model.tres.find((t) => t.name === "a")!.leaf;
    const rogueName = `rogue-${mesh.token}`;
    const rogueUser = { user: "rogue", password: randomPassword() };
    // The rogue names its local account after b's hub account and even subscribes to b's subjects by name.
    const rogue = await mesh.startServer(
      "rogue-leaf",
      toNatsConf({
        server_name: rogueName,
        host: "127.0.0.1",
        port: -1,
        accounts: { [treAccountName("b")]: { users: [rogueUser] } },
        leafnodes: {
          remotes: [
            {
              urls: [leafUrlWith(mesh.hub.server.leafUrl!, aLeaf.user, aLeaf.password)],
              account: treAccountName("b"),
            },
          ],
        },
      }),
    );
    await waitFor("the rogue leaf link", () => mesh.hubLink(rogueName));
    expect((await mesh.hubLink(rogueName))?.account).toBe(treAccountName("a"));

    const rogueNc = await mesh.connect(rogue.clientUrl, rogueUser);
    const bDmz = await mesh.connectLeaf("b", DMZ_ACCOUNT);
    const fed = await mesh.connectHub(FED_ACCOUNT);
    const forB = subjects.dispatch("b", newId());
    const rogueAll = collect(rogueNc, ">");
    const rogueB = collect(rogueNc, forB);
    const bInbound = collect(bDmz, subjects.treInbound("b"));
    await Promise.all([rogueNc.flush(), bDmz.flush()]);
    await mesh.waitForHubInterest(rogueName, forB);
    await mesh.waitForHubInterest("b", subjects.treInbound("b"));

    fed.publish(forB, "task for b");
    await waitFor("b's DMZ to get its task", () => bInbound.messages.length > 0);
    // Positive control: the rogue link does work, for a's subjects, which its credential is bound to.
    const forA = subjects.dispatch("a", newId());
    fed.publish(forA, "task for a");
    await waitFor("the rogue to get a's task", () => rogueAll.messages.length > 0);
    await sleep(QUIET_WINDOW_MS);

    expect(rogueAll.subjects()).toEqual([forA]);
    expect(rogueB.subjects()).toEqual([]);
    expect(bInbound.subjects()).toEqual([forB]);
  });

  it("refuses a's password under b's leaf user name, and leaf credentials on the client port", async () => {
    await using mesh = await startMesh({ tres: ["a", "b"] });
    const aLeaf = mesh.hub.model.tres.find((t) => t.name === "a")!.leaf;
    const bLeaf = mesh.hub.model.tres.find((t) => t.name === "b")!.leaf;
    const name = `swapped-${mesh.token}`;
    const swapped = await mesh.startServer(
      "swapped-leaf",
      toNatsConf({
        server_name: name,
        host: "127.0.0.1",
        port: -1,
        leafnodes: {
          remotes: [{ urls: [leafUrlWith(mesh.hub.server.leafUrl!, bLeaf.user, aLeaf.password)] }],
        },
      }),
    );
    await waitFor("the swapped credential to be refused", async () =>
      (await swapped.readLog()).includes("Authorization Violation"),
    );
    expect(await mesh.hubLink(name)).toBeUndefined();

    // A leaf credential is only a leaf credential: the hub's client port does not know it.
    await expect(
      connect({
        servers: mesh.hub.server.clientUrl,
        user: aLeaf.user,
        pass: aLeaf.password,
        reconnect: false,
      }),
    ).rejects.toMatchObject({ name: "AuthorizationError" });
  });

  it("gives a's DMZ account the hub's JetStream in a's hub account, and a's CTRL account none", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const hubAdmin = await mesh.connectHub(treAccountName("a"));
    await (await jetstreamManager(hubAdmin)).streams.add({
      name: streams.tasks,
      subjects: [subjects.treInbound("a")],
    });

    const dmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
    const viaDmz = await jetstreamManager(dmz, { domain: HUB_DOMAIN, timeout: 2_000 });
    expect((await viaDmz.streams.info(streams.tasks)).config.subjects).toEqual([subjects.treInbound("a")]);

    // No responders on `$JS.hub.API.>` from CTRL (the client reports it as JetStreamNotEnabled): nothing routes there.
    const ctrl = await mesh.connectLeaf("a", CTRL_ACCOUNT);
    await expect(jetstreamManager(ctrl, { domain: HUB_DOMAIN, timeout: 2_000 })).rejects.toMatchObject({
      name: "JetStreamNotEnabled",
    });
  });
});
