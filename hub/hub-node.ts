/**
 * One running hub, as `tremesh hub start` runs it: the hub nats-server (config generated from hub.yaml,
 * owner-only in the data dir), the durable topology in every account, and one instance of the hub
 * services. Two modes, one entry point:
 *
 * - config mode: accounts and users in the generated config. The hub's own internal users (system, services,
 *   per-TRE stream admin) get fresh random passwords on every start and exist only there and in this process.
 * - operator mode (hub.yaml `operator`): accounts are JWTs in a full resolver, preloaded from `accountsDir` on
 *   every start; the services connect with `servicesCredsFile`. The member TREs are the registry's: when one
 *   joins, the node connects as its operations user (`<treCredsDir>/<tre>.creds`), creates its TASKS and results
 *   streams and adds them to the FED view; when one is revoked, it lets go of them. No restart either way.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { AuditLog } from "../audit/index.js";
import {
  type besideServerTlsOptions,
  type CertificateInfo,
  connectService,
  credsFileAuthenticator,
  fetchMetaCluster,
  type NatsServerHandle,
  randomPassword,
  SERVICE_CONNECTION,
  StopStack,
  startNatsServer,
  waitFor,
  watchStaleSources,
} from "../common/index.js";
import { streams } from "../protocol/index.js";
import { treAccountName } from "./account-names.js";
import type { HubConfig, HubOperatorConfig } from "./hub-config.js";
import { HUB_DEFAULTS } from "./hub-defaults.js";
import { ownTls, reloadHubTls } from "./hub-node-tls.js";
import { type HubServiceEvent, type HubServices, startHubServices } from "./hub-services.js";
import { type LinkWatchEvent, watchLeafLinks } from "./leaf-link-watch.js";
import { hubOperatorServerConfig } from "./operator-server-config.js";
import { Registry } from "./registry.js";
import { type HubListeners, hubServerConfig } from "./server-config.js";
import { ensureTreStreams } from "./streams.js";
import { TreDirectory } from "./tre-directory.js";
import { type HubTreEvent, ResultsSourceWatch, TreOperations } from "./tre-operations.js";

export type HubNodeEvent =
  | HubServiceEvent
  | { service: "node"; event: { type: "ready"; clientUrl: string; leafUrl: string } }
  | { service: "node"; event: { type: "waiting"; reason: string } }
  | { service: "tres"; event: HubTreEvent }
  /** A TRE linked twice at once: a copy of its leaf credential is in use (leaf-link-watch.ts). */
  | { service: "links"; event: LinkWatchEvent };

export interface HubNodeOptions {
  onEvent?: (e: HubNodeEvent) => void;
  /**
   * How often the TRE results streams' sources (the leaves' OUTBOXes) are checked, in ms. Default 2 000: a check
   * costs one stream info per TRE, and a source cancelled after a link came back waits for the next one.
   */
  sourceCheckIntervalMs?: number;
  /**
   * Operator mode: how soon a TRE whose operations creds could not be used (missing, wrong account, refused) is
   * tried again, in ms. Default 5 000: an admin who copies the creds in after onboarding waits a few seconds.
   */
  treRetryIntervalMs?: number;
  /** A clustered node: how long to wait for a majority of the nodes before giving up, in ms. Default 120 000. */
  clusterWaitMs?: number;
  /** How often the leaf links are checked for a TRE linked twice, in ms. Default 5 000. */
  linkCheckIntervalMs?: number;
}

export interface HubNode extends AsyncDisposable {
  readonly mode: "config" | "operator";
  readonly server: NatsServerHandle;
  readonly services: HubServices;
  readonly clientUrl: string;
  readonly leafUrl: string;
  /**
   * The `tls` connection option a process on this machine uses to reach `clientUrl`: the hub's CA, and its
   * certificate checked against the certificate's own name. `null` when the hub has no TLS.
   */
  readonly clientTls: ReturnType<typeof besideServerTlsOptions> | null;
  /** Operator mode: the system account's public key (A…); its users push account JWTs to the resolver. */
  readonly systemAccount: string | undefined;
  /** The TREs whose streams this node manages now (config mode: every configured TRE). */
  managedTres(): string[];
  /**
   * Puts renewed TLS certificates in force without dropping the federation (`tremesh hub start` does it on
   * SIGHUP): reads hub.yaml and its TLS files again, checks them as a start does, and has nats-server reload.
   * Established links stay up; new ones see the new certificate. Throws ConfigFileError (and changes nothing) for
   * files that do not pass. Resolves to the certificate now in force.
   */
  reloadTls(): Promise<CertificateInfo>;
  stop(): Promise<void>;
}

/** Starts a hub in the mode hub.yaml asks for. On failure, everything started so far is stopped again. */
export async function startHubNode(config: HubConfig, options: HubNodeOptions = {}): Promise<HubNode> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const stops = new StopStack();
  try {
    return config.operator
      ? await startOperatorHub(config, config.operator, options, stops)
      : await startConfigHub(config, options, stops);
  } catch (error) {
    await stops.run();
    throw error;
  }
}

async function startConfigHub(
  config: HubConfig,
  options: HubNodeOptions,
  stops: StopStack,
): Promise<HubNode> {
  const internal = (user: string) => ({ user, password: randomPassword() });
  const services = internal("tremesh-hub-services");
  const treAdmins = new Map(config.tres.map((t) => [t.name, internal(`tremesh-hub-${t.name}`)]));
  const configText = hubServerConfig({
    ...listeners(config),
    system: internal("tremesh-hub-system"),
    fed: { users: [services, ...config.admins] },
    researchers: config.researchers,
    tres: config.tres.map((t) => ({ name: t.name, leaf: t.leaf, users: [treAdmins.get(t.name)!] })),
  });
  const server = await startNatsServer({ name: "hub", configText, dir: join(config.dataDir, "server") });
  stops.push(() => server.stop());
  const open = async (u: { user: string; password: string }) => {
    const nc = await connectService(server.clientUrl, u, ownTls(config).tls);
    stops.push(() => nc.close());
    return nc;
  };
  await clusterReady(server, config, options);
  const servicesConnection = await open(services);
  const treManagers = new Map<string, JetStreamManager>();
  for (const tre of config.tres) {
    const jsm = await jetstreamManager(await open(treAdmins.get(tre.name)!));
    await ensureTreStreams(jsm, {
      tre: tre.name,
      replicas: config.replicas,
      tasksMaxAgeMs: config.tasksMaxAgeMs,
    });
    treManagers.set(tre.name, jsm);
  }
  const hubServices = await startHubServices({
    nc: servicesConnection,
    hubKey: config.hubKey,
    tres: config.tres,
    treJetStream: (tre) => treManagers.get(tre),
    ...servicesOptions(config, options),
  });
  stops.push(() => hubServices.stop());

  // A leaf that was away longer than nats-server's own source retry comes back faster with a nudge, given
  // only while its heartbeats say it is there (see source-restarts.ts).
  const stopWatch = watchStaleSources(
    [...treManagers].map(([tre, jsm]) => ({
      jsm,
      stream: streams.results(tre),
      peer: () => hubServices.liveness.peer(tre),
    })),
    options.sourceCheckIntervalMs ?? HUB_DEFAULTS.sourceCheckIntervalMs,
    (stream, sources) =>
      options.onEvent?.({ service: "sources", event: { type: "resumed", stream, sources } }),
    config.cluster ? { leader: config.name } : {},
  );
  stops.push(async () => stopWatch());
  const names = new Map(config.tres.map((t) => [treAccountName(t.name), t.name]));
  stops.push(
    watchDuplicateLinks(server, config, options, hubServices.audit, (account) => names.get(account)),
  );
  return ready(config, server, hubServices, stops, options, {
    mode: "config",
    systemAccount: undefined,
    managedTres: () => [...treManagers.keys()],
  });
}

async function startOperatorHub(
  config: HubConfig,
  operator: HubOperatorConfig,
  options: HubNodeOptions,
  stops: StopStack,
): Promise<HubNode> {
  const emit = options.onEvent ?? (() => {});
  const configText = hubOperatorServerConfig({
    ...listeners(config),
    operatorJwt: operator.jwt,
    systemAccount: operator.systemAccount,
    resolverDir: join(config.dataDir, "resolver"),
    preload: operator.accounts,
  });
  const server = await startNatsServer({ name: "hub", configText, dir: join(config.dataDir, "server") });
  stops.push(() => server.stop());
  const nc = await connect({
    ...SERVICE_CONNECTION,
    servers: server.clientUrl,
    ...ownTls(config),
    authenticator: credsFileAuthenticator(operator.servicesCreds),
    name: "tremesh-hub-services",
  });
  stops.push(() => nc.close());
  await clusterReady(server, config, options);

  const directory = await TreDirectory.watch(await Registry.open(jetstream(nc)), (error, tre) =>
    emit({ service: "tres", event: { type: "error", tre, error } }),
  );
  stops.push(async () => directory.close());
  const watch = new ResultsSourceWatch(
    options.sourceCheckIntervalMs ?? HUB_DEFAULTS.sourceCheckIntervalMs,
    (stream, sources) => emit({ service: "sources", event: { type: "resumed", stream, sources } }),
    // Until the services (and their heartbeat tracker) run, no leaf counts as there.
    async (tre) => (hubServices ? hubServices.liveness.peer(tre) : { up: false }),
    config.cluster ? config.name : undefined,
  );
  stops.push(async () => watch.stop());
  let hubServices: HubServices | undefined;
  const operations = new TreOperations({
    servers: server.clientUrl,
    ...ownTls(config),
    credsDir: operator.treCredsDir,
    directory,
    watch,
    retryIntervalMs: options.treRetryIntervalMs ?? HUB_DEFAULTS.treRetryIntervalMs,
    replicas: config.replicas,
    tasksMaxAgeMs: config.tasksMaxAgeMs,
    emit: (event) => emit({ service: "tres", event }),
    // Before the services run, their own start brings the FED view to the members.
    synchronise: async () => hubServices?.syncTres(),
  });
  stops.push(() => operations.stop());
  const unsubscribe = directory.onChange(() => void operations.reconcile());
  stops.push(async () => unsubscribe());
  // The TREs' streams first: the FED view then finds every source it is given.
  await operations.reconcile();

  const services = await startHubServices({
    nc,
    hubKey: config.hubKey,
    tres: directory,
    treJetStream: (tre) => operations.jetstream(tre),
    ...servicesOptions(config, options),
    onEvent: (event) => {
      // A TRE's first heartbeat says its leaf link is up: its OUTBOX can be sourced now.
      if (event.service === "liveness" && event.event.type === "online") watch.checkNow(event.event.tre);
      options.onEvent?.(event);
    },
  });
  hubServices = services;
  stops.push(() => services.stop());
  // Once more, for a TRE that joined while the services were starting.
  await services.syncTres();
  stops.push(
    watchDuplicateLinks(
      server,
      config,
      options,
      services.audit,
      (account) => directory.list().find((t) => t.account === account)?.name,
    ),
  );
  return ready(config, server, services, stops, options, {
    mode: "operator",
    systemAccount: operator.systemAccount,
    managedTres: () => operations.managed(),
  });
}

/** The duplicate-link alert (leaf-link-watch.ts) for this node, as its events; returns its stop step. */
function watchDuplicateLinks(
  server: NatsServerHandle,
  config: HubConfig,
  options: HubNodeOptions,
  audit: AuditLog,
  treOfAccount: (account: string) => string | undefined,
): () => Promise<void> {
  return watchLeafLinks({
    monitorUrl: server.monitorUrl,
    ...ownTls(config),
    ...(options.linkCheckIntervalMs === undefined ? {} : { intervalMs: options.linkCheckIntervalMs }),
    treOfAccount,
    actor: config.name,
    audit,
    onEvent: (event) => options.onEvent?.({ service: "links", event }),
  });
}

/** hub.yaml's name, ports and store, as both server configs take them. */
function listeners(config: HubConfig): HubListeners {
  return {
    serverName: config.name,
    host: config.host,
    clientPort: config.ports.client,
    leafPort: config.ports.leaf,
    monitorPort: config.ports.monitor,
    monitorHost: config.monitorHost,
    ...(config.tls ? { tls: config.tls } : {}),
    storeDir: join(config.dataDir, "jetstream"),
    ...(config.cluster ? { cluster: config.cluster } : {}),
  };
}

/**
 * A clustered node waits until the nodes' JetStream meta group has a leader and counts at least `replicas`
 * servers (its size comes from the routes, which name every node: the config refuses fewer than `replicas`). A
 * leader needs a majority up (2 of 3). Nodes started together wait for each other here; a node that waits longer
 * than `clusterWaitMs` fails with the reason. A leader that has not yet heard from every node still refuses three
 * copies ("no suitable peers"): the stream creates retry that (`whilePlacing`). nats-server 2.10 now and then, on
 * a busy machine, forms a fresh group of the two nodes that met first and never adds the third (every node then
 * counts 2): the nodes fail here with the reason and systemd's `Restart=on-failure` starts them again; the left-out
 * node, restarted, joins (test/audit-log.test.ts's cluster does just that). A lone hub has nothing to wait for.
 */
async function clusterReady(
  server: NatsServerHandle,
  config: HubConfig,
  options: HubNodeOptions,
): Promise<void> {
  if (!config.cluster) return;
  const monitorUrl = server.monitorUrl;
  if (monitorUrl === undefined) throw new Error("a clustered hub node needs its monitoring port");
  const formed = async () => {
    const meta = await fetchMetaCluster(monitorUrl, ownTls(config).tls);
    return meta?.leader !== undefined && meta.cluster_size >= config.replicas;
  };
  if (await formed().catch(() => false)) return;
  const reason = `the hub cluster's JetStream meta group (a leader, and ${config.replicas} nodes known)`;
  options.onEvent?.({ service: "node", event: { type: "waiting", reason } });
  await waitFor(reason, formed, {
    timeoutMs: options.clusterWaitMs ?? HUB_DEFAULTS.clusterWaitMs,
    intervalMs: 250,
  });
}

function servicesOptions(config: HubConfig, options: HubNodeOptions) {
  return {
    replicas: config.replicas,
    ...(config.cluster ? { clusterNode: config.name } : {}),
    ...(config.offlineAfterMs === undefined ? {} : { offlineAfterMs: config.offlineAfterMs }),
    tasksMaxAgeMs: config.tasksMaxAgeMs,
    expiryCheckIntervalMs: config.expiryCheckIntervalMs,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
}

function ready(
  config: HubConfig,
  server: NatsServerHandle,
  services: HubServices,
  stops: StopStack,
  options: HubNodeOptions,
  mode: Pick<HubNode, "mode" | "systemAccount" | "managedTres">,
): HubNode {
  const leafUrl = server.leafUrl ?? "";
  options.onEvent?.({ service: "node", event: { type: "ready", clientUrl: server.clientUrl, leafUrl } });
  const stop = () => stops.run();
  return {
    ...mode,
    server,
    services,
    clientUrl: server.clientUrl,
    leafUrl,
    clientTls: ownTls(config).tls ?? null,
    reloadTls: () => reloadHubTls(config, server),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
