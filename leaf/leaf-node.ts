/**
 * One running TRE leaf, as `tremesh leaf start` runs it: the leaf nats-server (config generated from
 * leaf.yaml, owner-only in the data dir) dialling out to the hub, the DMZ streams (INBOX, OUTBOX), the
 * controlled account's audit log and dead letters, and the TRE-signed heartbeat. The leaf's own
 * internal users (system, DMZ agent, CTRL agent) get fresh random passwords on every start and exist only
 * in the generated config and this process.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { ensureAuditStream } from "../audit/index.js";
import {
  besideServerTlsOptions,
  connectService,
  ensureDeadLetterStream,
  fetchLeafz,
  type NatsServerHandle,
  observedLink,
  probeTls,
  randomPassword,
  StopStack,
  startNatsServer,
  watchStaleSources,
} from "../common/index.js";
import { ContainerExecutor, type Executor, QueryExecutor } from "../executors/index.js";
import { HEARTBEAT_LIFETIME_INTERVALS, newId, sealEnvelope, streams, subjects } from "../protocol/index.js";
import { Agent, type AgentEvent } from "./agent.js";
import { CredentialBroker, CredentialBrokerError } from "./credential-broker.js";
import { checkDataDirOwner } from "./data-dir-owner.js";
import { HUB_LINK_GRACE_MS, type HubLinkEvent, watchHubLink } from "./hub-link-watch.js";
import type { LeafConfig } from "./leaf-config.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";
import { postgresStartProblem } from "./postgres-start-problem.js";
import { leafServerConfig } from "./server-config.js";
import { ensureLeafStreams } from "./streams.js";

export type LeafNodeEvent =
  | { type: "ready"; clientUrl: string }
  | { type: "agent"; event: AgentEvent }
  | { type: "roles-swept"; roles: number }
  /**
   * A grant the PostgreSQL broker's role lacks (leaf.yaml `postgres.user`): the datasets it concerns fail every task
   * until the TRE's database administrator gives it. A warning: the leaf links and runs its other datasets.
   */
  | { type: "postgres-privileges"; problem: string }
  /**
   * PostgreSQL was away, or refused the broker's login, when the leaf started (leaf.yaml `postgres`): the leaf starts
   * anyway; its PostgreSQL tasks fail until the database takes the broker's login. The problem names the fields.
   */
  | { type: "postgres-unavailable"; problem: string }
  | { type: "sources-resumed"; stream: string; sources: string[] }
  /**
   * A hub URL whose certificate this TRE does not accept (another CA, another name, expired), or that offers no
   * TLS: the link to it cannot come up until the hub's certificate or leaf.yaml's `hub.caFile` is put right.
   */
  | { type: "hub-tls-refused"; url: string; reason: string }
  | HubLinkEvent
  | { type: "error"; error: Error };

export interface LeafNodeOptions {
  onEvent?: (e: LeafNodeEvent) => void;
  /** How often INBOX's source (the hub's TASKS) is checked and restarted when stale, in ms. Default 2 000. */
  sourceCheckIntervalMs?: number;
  /** Reported in heartbeats. Default "tremesh". */
  agentVersion?: string;
  /** Start the agent (intake, policy, executors, airlock). Default true; false runs the server and streams only. */
  agent?: boolean;
  /** How long without a hub link before `hub-link-down` is said, in ms. Default `HUB_LINK_GRACE_MS` (20 s). */
  hubLinkGraceMs?: number;
}

export interface LeafNode extends AsyncDisposable {
  readonly config: LeafConfig;
  readonly server: NatsServerHandle;
  /** The agent's connection in the DMZ account (intake and egress). */
  readonly dmz: NatsConnection;
  readonly dmzJsm: JetStreamManager;
  /** The agent's connection in the controlled account (state, airlock, audit). */
  readonly ctrl: NatsConnection;
  readonly ctrlJsm: JetStreamManager;
  /** The agent, unless started with `agent: false`. */
  readonly agent: Agent | undefined;
  stop(): Promise<void>;
}

export async function startLeafNode(config: LeafConfig, options: LeafNodeOptions = {}): Promise<LeafNode> {
  const emit = options.onEvent ?? (() => {});
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const internal = (user: string) => ({ user, password: randomPassword() });
  const dmzUser = internal("tremesh-agent-dmz");
  const ctrlUser = internal("tremesh-agent-ctrl");
  const configText = leafServerConfig({
    tre: config.tre,
    serverName: config.name,
    host: config.host,
    ...(config.tls ? { tls: config.tls } : {}),
    clientPort: config.ports.client,
    monitorPort: config.ports.monitor,
    storeDir: join(config.dataDir, "jetstream"),
    system: internal("tremesh-leaf-system"),
    dmz: { users: [dmzUser] },
    ctrl: { users: [ctrlUser] },
    reviewers: config.reviewers.flatMap((r) => (r.password ? [{ user: r.name, password: r.password }] : [])),
    hub: {
      urls: config.hub.urls,
      credential: config.hub.credential,
      ...(config.hub.tls ? { tls: config.hub.tls } : {}),
    },
  });
  const server = await startNatsServer({
    name: "leaf",
    configText,
    dir: join(config.dataDir, "server"),
    maxProcs: config.natsServerCores,
  });
  const stops = new StopStack();
  stops.push(() => server.stop());
  const stopAll = () => stops.run();
  try {
    const open = async (u: { user: string; password: string }) => {
      const nc = await connectService(
        server.clientUrl,
        u,
        config.tls ? besideServerTlsOptions(config.tls) : undefined,
      );
      stops.push(() => nc.close());
      return nc;
    };
    const dmz = await open(dmzUser);
    const ctrl = await open(ctrlUser);
    const dmzJsm = await jetstreamManager(dmz);
    const ctrlJsm = await jetstreamManager(ctrl);
    await checkDataDirOwner(ctrlJsm, config);
    await ensureLeafStreams(dmzJsm, { tre: config.tre });
    await ensureAuditStream(ctrlJsm, { scope: config.tre, directReads: true });
    await ensureDeadLetterStream(ctrlJsm, config.tre);

    let agent: Agent | undefined;
    if (options.agent !== false) {
      const broker = new CredentialBroker(
        config.postgres
          ? {
              postgres: {
                admin: {
                  host: config.postgres.host,
                  port: config.postgres.port,
                  database: config.postgres.database,
                  user: config.postgres.user,
                  password: config.postgres.password,
                },
                ...(config.postgres.rolePrefix ? { rolePrefix: config.postgres.rolePrefix } : {}),
              },
            }
          : {},
      );
      // Roles a crashed run left behind are dropped before any task starts.
      if (config.postgres) {
        try {
          emit({ type: "roles-swept", roles: (await broker.sweep()).length });
          for (const problem of await broker.privilegeProblems(config.datasets))
            emit({ type: "postgres-privileges", problem });
        } catch (e) {
          // The broker sweeps before its first task's role instead; the TRE's other datasets work meanwhile.
          if (!(e instanceof CredentialBrokerError)) throw e;
          broker.sweepBeforeNextTask();
          emit({
            type: "postgres-unavailable",
            problem: postgresStartProblem(e, config.postgres, config.datasets),
          });
        }
      }
      const executors: Executor[] = [
        new QueryExecutor({ keepOpenMs: config.datasetKeepOpenMs }),
        ...(config.containers
          ? [
              new ContainerExecutor({
                docker: { socketPath: config.containers.socketPath },
                tre: config.tre,
                workDir: join(config.dataDir, "containers"),
                user: config.containers.user,
                limits: config.containers.limits,
              }),
            ]
          : []),
      ];
      // Closed once the agent has stopped (the stack runs the last pushed first).
      stops.push(async () => void (await Promise.allSettled(executors.map((e) => e.close?.()))));
      const started = await Agent.start({
        tre: config.tre,
        treKey: config.treKey,
        hubKeys: config.hub.keys,
        researchers: config.researchers,
        projects: config.projects,
        datasets: config.datasets,
        dmz,
        ctrl,
        executors,
        credentials: broker,
        reviewers: config.reviewers.map((r) => ({ name: r.name, publicKey: r.publicKey })),
        disclosure: config.disclosure,
        review: config.review,
        taskTimeoutMs: config.taskTimeoutMs,
        maxConcurrentTasks: config.maxConcurrentTasks,
        maxTaskAttempts: config.maxTaskAttempts,
        retryBackoffMs: config.retryBackoffMs,
        taskRetentionDays: config.taskRetentionDays,
        onEvent: (event) => emit({ type: "agent", event }),
      });
      agent = started;
      stops.push(() => started.stop());
    }

    let seq = 0;
    const beat = () => {
      const now = Date.now();
      const envelope = sealEnvelope(
        "heartbeat",
        {
          id: newId(now),
          iat: now,
          exp: now + HEARTBEAT_LIFETIME_INTERVALS * config.heartbeatIntervalMs,
          tre: config.tre,
          seq: seq++,
          agentVersion: options.agentVersion ?? "tremesh",
          running: agent?.running ?? 0,
        },
        config.treKey,
      );
      dmz.publish(subjects.heartbeat(config.tre), envelope);
    };
    beat();
    const heartbeat = setInterval(beat, config.heartbeatIntervalMs);
    stops.push(async () => clearInterval(heartbeat));

    // Whether the hub link is up, from this server's own /leafz: INBOX's source is restarted only while it is (see
    // source-restarts.ts), and the operator hears when it stays down.
    const monitorUrl = server.monitorUrl;
    const hubLinked =
      monitorUrl === undefined ? undefined : async () => (await fetchLeafz(monitorUrl)).leafs.length > 0;
    const hubLink = hubLinked && observedLink(hubLinked);
    const stopWatch = watchStaleSources(
      [{ jsm: dmzJsm, stream: streams.inbox, ...(hubLink ? { peer: hubLink } : {}) }],
      options.sourceCheckIntervalMs ?? LEAF_DEFAULTS.sourceCheckIntervalMs,
      (stream, sources) => emit({ type: "sources-resumed", stream, sources }),
    );
    stops.push(async () => stopWatch());
    if (hubLinked !== undefined) {
      const graceMs = options.hubLinkGraceMs ?? HUB_LINK_GRACE_MS;
      const stopLinkWatch = watchHubLink({
        isUp: hubLinked,
        serverLog: server.logFile,
        graceMs,
        // A few looks within the grace, no more: each is a request to the server's monitoring port.
        intervalMs: Math.min(5_000, graceMs / 2),
        emit,
      });
      stops.push(async () => stopLinkWatch());
    }

    // nats-server retries a refused link quietly; say once, in words, why it cannot come up.
    const tls = config.hub.tls;
    if (tls)
      for (const url of config.hub.urls)
        void probeTls(url, tls).then((result) => {
          if (!result.ok && result.kind === "refused")
            emit({ type: "hub-tls-refused", url, reason: result.reason });
        });

    emit({ type: "ready", clientUrl: server.clientUrl });
    return {
      config,
      server,
      dmz,
      dmzJsm,
      ctrl,
      ctrlJsm,
      agent,
      stop: stopAll,
      [Symbol.asyncDispose]: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
