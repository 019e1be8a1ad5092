/**
 * One running hub, as `tremesh hub start` runs it: the hub nats-server (config generated from hub.yaml,
 * owner-only in the data dir), the durable topology in every account, and one instance of the hub
 * services. The hub's own internal users (system, services, per-TRE stream admin) get fresh random
 * passwords on every start and exist only in the generated config and this process.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  type NatsServerHandle,
  randomPassword,
  startNatsServer,
  watchStaleSources,
} from "../common/index.js";
import { streams } from "../protocol/index.js";
import type { HubConfig } from "./hub-config.js";
import { type HubServiceEvent, type HubServices, startHubServices } from "./hub-services.js";
import { hubServerConfig } from "./server-config.js";
import { ensureTreStreams } from "./streams.js";

export type HubNodeEvent =
  | HubServiceEvent
  | { service: "node"; event: { type: "ready"; clientUrl: string; leafUrl: string } };

export interface HubNodeOptions {
  onEvent?: (e: HubNodeEvent) => void;
  /** How often the TRE results streams' sources (the leaves' OUTBOXes) are checked, in ms. Default 5 000. */
  sourceCheckIntervalMs?: number;
}

export interface HubNode extends AsyncDisposable {
  readonly server: NatsServerHandle;
  readonly services: HubServices;
  readonly clientUrl: string;
  readonly leafUrl: string;
  stop(): Promise<void>;
}

export async function startHubNode(config: HubConfig, options: HubNodeOptions = {}): Promise<HubNode> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const internal = (user: string) => ({ user, password: randomPassword() });
  const services = internal("tremesh-hub-services");
  const treAdmins = new Map(config.tres.map((t) => [t.name, internal(`tremesh-hub-${t.name}`)]));
  const configText = hubServerConfig({
    serverName: config.name,
    host: config.host,
    clientPort: config.ports.client,
    leafPort: config.ports.leaf,
    monitorPort: config.ports.monitor,
    storeDir: join(config.dataDir, "jetstream"),
    system: internal("tremesh-hub-system"),
    fed: { users: [services, ...config.admins] },
    researchers: config.researchers,
    tres: config.tres.map((t) => ({ name: t.name, leaf: t.leaf, users: [treAdmins.get(t.name)!] })),
  });
  const server = await startNatsServer({ name: "hub", configText, dir: join(config.dataDir, "server") });
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    stops.length = 0;
  };
  stops.push(() => server.stop());
  try {
    const open = async (u: { user: string; password: string }) => {
      const nc = await connect({ servers: server.clientUrl, user: u.user, pass: u.password, name: u.user });
      stops.push(() => nc.close());
      return nc;
    };
    const treManagers = new Map<string, Awaited<ReturnType<typeof jetstreamManager>>>();
    for (const tre of config.tres) {
      const jsm = await jetstreamManager(await open(treAdmins.get(tre.name)!));
      await ensureTreStreams(jsm, { tre: tre.name });
      treManagers.set(tre.name, jsm);
    }
    const hubServices = await startHubServices({
      nc: await open(services),
      hubKey: config.hubKey,
      tres: config.tres,
      ...(config.offlineAfterMs === undefined ? {} : { offlineAfterMs: config.offlineAfterMs }),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    stops.push(() => hubServices.stop());

    // A leaf that was away longer than nats-server's own source retry comes back faster with a nudge.
    const stopWatch = watchStaleSources(
      [...treManagers].map(([tre, jsm]) => ({ jsm, stream: streams.results(tre) })),
      options.sourceCheckIntervalMs ?? 5_000,
      (stream, sources) =>
        options.onEvent?.({ service: "sources", event: { type: "resumed", stream, sources } }),
    );
    stops.push(async () => stopWatch());

    const leafUrl = server.leafUrl ?? "";
    options.onEvent?.({ service: "node", event: { type: "ready", clientUrl: server.clientUrl, leafUrl } });
    return {
      server,
      services: hubServices,
      clientUrl: server.clientUrl,
      leafUrl,
      stop: stopAll,
      [Symbol.asyncDispose]: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
