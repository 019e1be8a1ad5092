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
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import {
  type NatsServerHandle,
  randomPassword,
  readCredsFile,
  resumeStaleSources,
  startNatsServer,
  watchStaleSources,
} from "../common/index.js";
import { streams } from "../protocol/index.js";
import type { HubConfig, HubOperatorConfig } from "./hub-config.js";
import { type HubServiceEvent, type HubServices, startHubServices } from "./hub-services.js";
import { Registry } from "./registry.js";
import { hubOperatorServerConfig, hubServerConfig } from "./server-config.js";
import { ensureTreStreams } from "./streams.js";
import { TreDirectory, type TreMember } from "./tre-directory.js";

/** What the node does about member TREs in operator mode. */
export type HubTreEvent =
  /** The TRE's streams exist and the node manages them (its operations connection is up). */
  | { type: "added"; tre: string }
  /** The TRE left (revoked or deleted): its operations connection is closed and its streams no longer watched. */
  | { type: "removed"; tre: string }
  /**
   * The TRE's registry entry or operations creds could not be used, or (no `tre`) the FED view could not be
   * brought up to date; retried on the next change or shortly.
   */
  | { type: "error"; tre?: string; error: Error };

export type HubNodeEvent =
  | HubServiceEvent
  | { service: "node"; event: { type: "ready"; clientUrl: string; leafUrl: string } }
  | { service: "tres"; event: HubTreEvent };

export interface HubNodeOptions {
  onEvent?: (e: HubNodeEvent) => void;
  /** How often the TRE results streams' sources (the leaves' OUTBOXes) are checked, in ms. Default 5 000. */
  sourceCheckIntervalMs?: number;
  /**
   * Operator mode: how soon a TRE whose operations creds could not be used (missing, wrong account, refused) is
   * tried again, in ms. Default 5 000: an admin who copies the creds in after onboarding waits a few seconds.
   */
  treRetryIntervalMs?: number;
}

export interface HubNode extends AsyncDisposable {
  readonly mode: "config" | "operator";
  readonly server: NatsServerHandle;
  readonly services: HubServices;
  readonly clientUrl: string;
  readonly leafUrl: string;
  /** Operator mode: the system account's public key (A…); its users push account JWTs to the resolver. */
  readonly systemAccount: string | undefined;
  /** The TREs whose streams this node manages now (config mode: every configured TRE). */
  managedTres(): string[];
  stop(): Promise<void>;
}

/** Starts a hub in the mode hub.yaml asks for. On failure, everything started so far is stopped again. */
export async function startHubNode(config: HubConfig, options: HubNodeOptions = {}): Promise<HubNode> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const stops = new Stops();
  try {
    return config.operator
      ? await startOperatorHub(config, config.operator, options, stops)
      : await startConfigHub(config, options, stops);
  } catch (error) {
    await stops.run();
    throw error;
  }
}

async function startConfigHub(config: HubConfig, options: HubNodeOptions, stops: Stops): Promise<HubNode> {
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
  stops.push(() => server.stop());
  const open = async (u: { user: string; password: string }) => {
    const nc = await connect({ servers: server.clientUrl, user: u.user, pass: u.password, name: u.user });
    stops.push(() => nc.close());
    return nc;
  };
  const treManagers = new Map<string, JetStreamManager>();
  for (const tre of config.tres) {
    const jsm = await jetstreamManager(await open(treAdmins.get(tre.name)!));
    await ensureTreStreams(jsm, { tre: tre.name });
    treManagers.set(tre.name, jsm);
  }
  const hubServices = await startHubServices({
    nc: await open(services),
    hubKey: config.hubKey,
    tres: config.tres,
    ...servicesOptions(config, options),
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
  return ready(server, hubServices, stops, options, {
    mode: "config",
    systemAccount: undefined,
    managedTres: () => [...treManagers.keys()],
  });
}

async function startOperatorHub(
  config: HubConfig,
  operator: HubOperatorConfig,
  options: HubNodeOptions,
  stops: Stops,
): Promise<HubNode> {
  const emit = options.onEvent ?? (() => {});
  const configText = hubOperatorServerConfig({
    serverName: config.name,
    host: config.host,
    clientPort: config.ports.client,
    leafPort: config.ports.leaf,
    monitorPort: config.ports.monitor,
    storeDir: join(config.dataDir, "jetstream"),
    operatorJwt: operator.jwt,
    systemAccount: operator.systemAccount,
    resolverDir: join(config.dataDir, "resolver"),
    preload: operator.accounts,
  });
  const server = await startNatsServer({ name: "hub", configText, dir: join(config.dataDir, "server") });
  stops.push(() => server.stop());
  const nc = await connect({
    servers: server.clientUrl,
    authenticator: credsAuthenticator(operator.servicesCreds),
    name: "tremesh-hub-services",
  });
  stops.push(() => nc.close());

  const directory = await TreDirectory.watch(await Registry.open(jetstream(nc)), (error, tre) =>
    emit({ service: "tres", event: { type: "error", tre, error } }),
  );
  stops.push(async () => directory.close());
  const watch = new ResultsSourceWatch(options.sourceCheckIntervalMs ?? 5_000, (stream, sources) =>
    emit({ service: "sources", event: { type: "resumed", stream, sources } }),
  );
  stops.push(async () => watch.stop());
  let hubServices: HubServices | undefined;
  const operations = new TreOperations({
    servers: server.clientUrl,
    credsDir: operator.treCredsDir,
    directory,
    watch,
    retryIntervalMs: options.treRetryIntervalMs ?? 5_000,
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
    ...servicesOptions(config, options),
  });
  hubServices = services;
  stops.push(() => services.stop());
  // Once more, for a TRE that joined while the services were starting.
  await services.syncTres();
  return ready(server, services, stops, options, {
    mode: "operator",
    systemAccount: operator.systemAccount,
    managedTres: () => operations.managed(),
  });
}

function servicesOptions(config: HubConfig, options: HubNodeOptions) {
  return {
    ...(config.offlineAfterMs === undefined ? {} : { offlineAfterMs: config.offlineAfterMs }),
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  };
}

function ready(
  server: NatsServerHandle,
  services: HubServices,
  stops: Stops,
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
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Teardown steps, run once in reverse order of start. */
class Stops {
  readonly #steps: (() => Promise<unknown>)[] = [];
  #running: Promise<void> | undefined;

  push(step: () => Promise<unknown>): void {
    this.#steps.push(step);
  }

  run(): Promise<void> {
    this.#running ??= (async () => {
      for (const step of this.#steps.reverse()) await step().catch(() => undefined);
      this.#steps.length = 0;
    })();
    return this.#running;
  }
}

/** `watchStaleSources` over the TRE results streams, for a set of TREs that changes while it runs. */
class ResultsSourceWatch {
  readonly #targets = new Map<string, JetStreamManager>();
  readonly #timer: NodeJS.Timeout;

  constructor(intervalMs: number, onResumed: (stream: string, sources: string[]) => void) {
    this.#timer = setInterval(() => {
      for (const [tre, jsm] of this.#targets) {
        const stream = streams.results(tre);
        resumeStaleSources(jsm, stream)
          .then((sources) => {
            if (sources.length > 0) onResumed(stream, sources);
          })
          .catch(() => undefined); // the next round tries again
      }
    }, intervalMs);
  }

  set(tre: string, jsm: JetStreamManager): void {
    this.#targets.set(tre, jsm);
  }

  delete(tre: string): void {
    this.#targets.delete(tre);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#targets.clear();
  }
}

interface TreOperationsOptions {
  servers: string;
  credsDir: string;
  directory: TreDirectory;
  watch: ResultsSourceWatch;
  retryIntervalMs: number;
  emit: (event: HubTreEvent) => void;
  /** Brings the FED view to the directory (HubServices.syncTres); called after every change. */
  synchronise: () => Promise<unknown>;
}

interface Operations {
  nc: NatsConnection;
  account: string;
}

/**
 * Operator mode: one operations connection per member TRE (its account's `treOpsPermissions` user), kept in step
 * with the directory. Passes run one at a time; a TRE that could not be set up is retried on the next change or
 * after `retryIntervalMs`, and never stops the hub.
 */
class TreOperations {
  readonly #open = new Map<string, Operations>();
  /** The last problem reported per TRE, so a retry that fails the same way stays quiet. */
  readonly #problems = new Map<string, string>();
  #pass: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly o: TreOperationsOptions) {}

  managed(): string[] {
    return [...this.#open.keys()].sort();
  }

  /** Runs a pass after any pass under way; resolves when it is done. Never rejects. */
  reconcile(): Promise<void> {
    // A pass reports its own failures as events; one that throws anyway (a throwing onEvent) ends quietly.
    const pass = () => (this.#stopped ? Promise.resolve() : this.#reconcile().catch(() => undefined));
    this.#pass = this.#pass.then(pass, pass);
    return this.#pass;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#pass;
    for (const [tre, ops] of this.#open) {
      this.#open.delete(tre);
      await ops.nc.close().catch(() => undefined);
    }
  }

  async #reconcile(): Promise<void> {
    const members = new Map(this.o.directory.list().map((t) => [t.name, t]));
    for (const [tre, ops] of this.#open) {
      const member = members.get(tre);
      if (member?.account === undefined || member.account !== ops.account) await this.#close(tre, ops);
    }
    for (const tre of this.#problems.keys()) if (!members.has(tre)) this.#problems.delete(tre);
    let failed = false;
    for (const member of members.values()) {
      if (this.#open.has(member.name)) continue;
      try {
        await this.#setUp(member);
        this.#problems.delete(member.name);
        this.o.emit({ type: "added", tre: member.name });
      } catch (e) {
        failed = true;
        const error = e instanceof Error ? e : new Error(String(e));
        if (this.#problems.get(member.name) !== error.message) {
          this.#problems.set(member.name, error.message);
          this.o.emit({ type: "error", tre: member.name, error });
        }
      }
      if (this.#stopped) return;
    }
    await this.o.synchronise().catch((e: unknown) => {
      failed = true; // the FED view is brought up to date on the retry
      this.o.emit({ type: "error", error: e instanceof Error ? e : new Error(String(e)) });
    });
    if (failed && this.#retry === undefined && !this.#stopped) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        void this.reconcile();
      }, this.o.retryIntervalMs);
    }
  }

  async #setUp(member: TreMember): Promise<void> {
    const creds = await readCredsFile(join(this.o.credsDir, `${member.name}.creds`));
    if (creds.account !== member.account) {
      throw new Error(
        `${member.name}.creds is a user of account ${creds.account}, not of TRE ${member.name}'s account ${member.account}`,
      );
    }
    const nc = await connect({
      servers: this.o.servers,
      authenticator: credsAuthenticator(creds.bytes),
      name: `tremesh-hub-${member.name}`,
    });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureTreStreams(jsm, { tre: member.name });
      const ops = { nc, account: creds.account };
      this.#open.set(member.name, ops);
      this.o.watch.set(member.name, jsm);
      // A connection the server ends (the user or the account revoked) is set up again on a later pass.
      void nc.closed().then(() => {
        if (this.#stopped || this.#open.get(member.name) !== ops) return;
        this.#open.delete(member.name);
        this.o.watch.delete(member.name);
        this.o.emit({
          type: "error",
          tre: member.name,
          error: new Error("the operations connection closed"),
        });
        void this.reconcile();
      });
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  async #close(tre: string, ops: Operations): Promise<void> {
    this.#open.delete(tre);
    this.o.watch.delete(tre);
    await ops.nc.close().catch(() => undefined);
    this.o.emit({ type: "removed", tre });
  }
}
