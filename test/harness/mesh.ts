/**
 * A real mesh for integration tests: one hub nats-server and one leaf nats-server per TRE, on random
 * loopback ports with temp store dirs, every leaf link up before it returns.
 *
 * @example
 * await using mesh = await startMesh({ tres: ["a", "b"] });
 * const fed = await mesh.connectHub(FED_ACCOUNT);
 * const dmz = await mesh.connectLeaf("a", DMZ_ACCOUNT);
 *
 * Disposal closes every connection the mesh opened, stops every server (extra ones too) and removes
 * the temp dir, even when the test failed. Set TREMESH_KEEP_TMP=1 to keep the dir (configs, logs).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  fetchLeafz,
  type NatsServerHandle,
  startNatsServer,
  type UserCredential,
  waitFor,
} from "../../common/index.js";
import type { LeafLinkInfo } from "../../common/nats-monitor.js";
import { lastLines } from "../../common/nats-server-probe.js";
import { FED_ACCOUNT } from "../../hub/account-names.js";
import { treAccountName } from "../../hub/index.js";
import { type HubServerModel, hubServerConfig } from "../../hub/server-config.js";
import { ensureFedStreams, ensureTreStreams } from "../../hub/streams.js";
import { DMZ_ACCOUNT } from "../../leaf/account-names.js";
import { type LeafServerModel, leafServerConfig } from "../../leaf/server-config.js";
import { ensureLeafStreams } from "../../leaf/streams.js";
import { type LeafAccount, meshHubModel, meshLeafModel } from "./mesh-models.js";
import { uniqueToken } from "./unique.js";

export interface MeshOptions {
  /** TRE names; one leaf each. */
  tres: string[];
  /** How long to wait for every leaf link to show in the hub's /leafz. Default 20 000 ms. */
  linkTimeoutMs?: number;
  /**
   * Create the durable streams before returning (hub TASKS and RESULTS_<tre> per TRE, the FED view, each leaf's
   * INBOX and OUTBOX), as the hub and the agents do on start. Default false: routing tests need none.
   */
  streams?: boolean;
}

export interface MeshHub {
  server: NatsServerHandle;
  model: HubServerModel;
  configText: string;
}

export interface MeshLeaf {
  tre: string;
  server: NatsServerHandle;
  model: LeafServerModel;
  configText: string;
}

export interface Mesh extends AsyncDisposable {
  /** Random token in this mesh's server names; use it (or uniqueToken()) for test-local names. */
  readonly token: string;
  /** Temp root holding every server's config, log and store. */
  readonly dir: string;
  readonly hub: MeshHub;
  readonly leaves: Readonly<Record<string, MeshLeaf>>;
  /** Connects to the hub as the harness user of `account` (SYS, FED or a `TRE_<name>` account). */
  connectHub(account: string): Promise<NatsConnection>;
  /** Connects to TRE `tre`'s leaf server as the harness user of `account`. */
  connectLeaf(tre: string, account: LeafAccount): Promise<NatsConnection>;
  /** Connects anywhere with explicit credentials; the connection is still closed on disposal. */
  connect(serverUrl: string, credential: UserCredential | undefined): Promise<NatsConnection>;
  /** Starts an additional server (e.g. a rogue leaf) in this mesh's temp dir, stopped on disposal. */
  startServer(name: string, configText: string): Promise<NatsServerHandle>;
  /**
   * The hub's view of a leaf link, or undefined while it is down. `leaf` is a TRE of this mesh (its
   * link must also be bound to that TRE's account) or the server_name of any other leaf server.
   */
  hubLink(leaf: string, options?: { subs?: boolean }): Promise<LeafLinkInfo | undefined>;
  /** Waits until every TRE's leaf link is up on the hub and bound to that TRE's account. */
  waitForLinks(timeoutMs?: number): Promise<void>;
  /**
   * Creates or updates every durable stream (see `MeshOptions.streams`) through short-lived connections; call it
   * again after adding servers or to prove idempotence. Leaves that are stopped are skipped.
   */
  ensureStreams(): Promise<void>;
  /**
   * Waits until the hub knows that `leaf` (as in `hubLink`) has interest in `subject` (interest crosses a leaf
   * link asynchronously; publishing before that loses the message, as core NATS should).
   */
  waitForHubInterest(leaf: string, subject: string, timeoutMs?: number): Promise<void>;
  /** Waits until TRE `tre`'s leaf knows that the hub has interest in `subject` (the other direction of the link). */
  waitForLeafInterest(tre: string, subject: string, timeoutMs?: number): Promise<void>;
}

export class MeshStartError extends Error {
  override readonly name = "MeshStartError";
}

export async function startMesh(options: MeshOptions): Promise<Mesh> {
  const token = uniqueToken();
  const dir = await mkdtemp(join(tmpdir(), `tremesh-mesh-${token}-`));
  const cleanup = new Cleanup(dir);
  try {
    return await buildMesh(token, dir, options, cleanup);
  } catch (error) {
    await cleanup.run().catch(() => undefined); // the start failure is the error worth reporting
    throw error;
  }
}

async function buildMesh(token: string, dir: string, options: MeshOptions, cleanup: Cleanup): Promise<Mesh> {
  const { model: hubModel, users: hubUsers } = meshHubModel(token, dir, options.tres);
  const hubConfigText = hubServerConfig(hubModel);
  const hubServer = cleanup.server(
    await startNatsServer({ name: "hub", configText: hubConfigText, dir: join(dir, "hub") }),
  );
  const hub: MeshHub = { server: hubServer, model: hubModel, configText: hubConfigText };
  const hubLeafUrl = hubServer.leafUrl;
  if (hubLeafUrl === undefined) throw new MeshStartError("the hub has no leafnode listener");

  const leaves: Record<string, MeshLeaf> = {};
  const leafUsers = new Map<string, Map<LeafAccount, UserCredential>>();
  for (const tre of hubModel.tres) {
    const { model, users } = meshLeafModel(token, dir, tre.name, hubLeafUrl, tre.leaf);
    const configText = leafServerConfig(model);
    const server = cleanup.server(
      await startNatsServer({ name: `leaf-${tre.name}`, configText, dir: join(dir, `leaf-${tre.name}`) }),
    );
    leaves[tre.name] = { tre: tre.name, server, model, configText };
    leafUsers.set(tre.name, users);
  }

  const connectTracked = async (serverUrl: string, credential: UserCredential | undefined) =>
    cleanup.connection(
      await connect({
        servers: serverUrl,
        name: `tremesh-test-${token}`,
        ...(credential === undefined ? {} : { user: credential.user, pass: credential.password }),
      }),
    );

  const leafOf = (tre: string): MeshLeaf => {
    const leaf = leaves[tre];
    if (leaf === undefined) throw new RangeError(`no TRE ${JSON.stringify(tre)} in this mesh`);
    return leaf;
  };

  const hubLink = async (leaf: string, linkOptions: { subs?: boolean } = {}) => {
    const tre = leaves[leaf];
    const leafz = await fetchLeafz(hubServer.monitorUrl!, linkOptions);
    return tre === undefined
      ? leafz.leafs.find((l) => l.name === leaf)
      : leafz.leafs.find((l) => l.name === tre.model.serverName && l.account === treAccountName(leaf));
  };

  const mesh: Mesh = {
    token,
    dir,
    hub,
    leaves,
    connectHub: (account) => {
      const credential = hubUsers.get(account);
      if (credential === undefined) {
        throw new RangeError(`no hub account ${JSON.stringify(account)} in this mesh`);
      }
      return connectTracked(hubServer.clientUrl, credential);
    },
    connectLeaf: (tre, account) =>
      connectTracked(leafOf(tre).server.clientUrl, leafUsers.get(tre)?.get(account)),
    connect: connectTracked,
    startServer: async (name, configText) =>
      cleanup.server(await startNatsServer({ name, configText, dir: join(dir, name) })),
    hubLink,
    waitForLinks: async (timeoutMs = options.linkTimeoutMs ?? 20_000) => {
      for (const tre of Object.keys(leaves)) {
        await waitFor(`TRE ${tre}'s leaf link on the hub`, () => hubLink(tre), { timeoutMs });
      }
    },
    waitForHubInterest: async (leaf, subject, timeoutMs = 10_000) => {
      await waitFor(
        `the hub to see ${leaf}'s interest in ${subject}`,
        async () => (await hubLink(leaf, { subs: true }))?.subscriptions_list?.includes(subject),
        { timeoutMs },
      );
    },
    waitForLeafInterest: async (tre, subject, timeoutMs = 10_000) => {
      const leaf = leafOf(tre);
      await waitFor(
        `TRE ${tre}'s leaf to see the hub's interest in ${subject}`,
        async () => {
          const leafz = await fetchLeafz(leaf.server.monitorUrl!, { subs: true });
          return leafz.leafs.some((l) => l.subscriptions_list?.includes(subject));
        },
        { timeoutMs },
      );
    },
    ensureStreams: async () => {
      const tres = Object.keys(leaves);
      const withJsm = async (serverUrl: string, credential: UserCredential | undefined) => {
        const nc = await connectTracked(serverUrl, credential);
        return { nc, jsm: await jetstreamManager(nc) };
      };
      for (const tre of tres) {
        const { nc, jsm } = await withJsm(hubServer.clientUrl, hubUsers.get(treAccountName(tre)));
        await ensureTreStreams(jsm, { tre });
        await nc.close();
      }
      const fed = await withJsm(hubServer.clientUrl, hubUsers.get(FED_ACCOUNT));
      await ensureFedStreams(fed.jsm, { tres });
      await fed.nc.close();
      for (const tre of tres) {
        const leaf = leafOf(tre);
        if (!leaf.server.running) continue;
        const { nc, jsm } = await withJsm(leaf.server.clientUrl, leafUsers.get(tre)?.get(DMZ_ACCOUNT));
        await ensureLeafStreams(jsm, { tre });
        await nc.close();
      }
    },
    [Symbol.asyncDispose]: () => cleanup.run(),
  };

  try {
    await mesh.waitForLinks();
  } catch (cause) {
    const logs = await Promise.all(
      [hubServer, ...Object.values(leaves).map((l) => l.server)].map(
        async (server) => `--- ${server.name} ---\n${lastLines(await server.readLog(), 10)}`,
      ),
    );
    throw new MeshStartError(`leaf links did not come up\n${logs.join("\n")}`, { cause });
  }
  if (options.streams === true) await mesh.ensureStreams();
  return mesh;
}

/** Everything a mesh must undo: connections, then extra servers and leaves, then the hub, then the temp dir. */
class Cleanup {
  readonly #dir: string;
  #connections: NatsConnection[] = [];
  #servers: NatsServerHandle[] = [];
  #done: Promise<void> | undefined;

  constructor(dir: string) {
    this.#dir = dir;
  }

  connection(nc: NatsConnection): NatsConnection {
    this.#connections.push(nc);
    return nc;
  }

  server(server: NatsServerHandle): NatsServerHandle {
    this.#servers.push(server);
    return server;
  }

  run(): Promise<void> {
    this.#done ??= this.#run();
    return this.#done;
  }

  async #run(): Promise<void> {
    const errors: unknown[] = [];
    const settle = async (steps: Promise<unknown>[]) => {
      for (const result of await Promise.allSettled(steps)) {
        if (result.status === "rejected") errors.push(result.reason);
      }
    };
    // Clients first, so no client sees its server vanish; then leaves before the hub, all at once per layer.
    await settle(this.#connections.map((nc) => nc.close()));
    const [hub, ...others] = this.#servers;
    await settle(others.map((s) => s.stop()));
    if (hub !== undefined) await settle([hub.stop()]);
    if (process.env.TREMESH_KEEP_TMP !== "1") await settle([rm(this.#dir, { recursive: true, force: true })]);
    if (errors.length > 0) throw new AggregateError(errors, `mesh cleanup: ${errors.length} step(s) failed`);
  }
}
