import {
  ConfigFileError,
  configPath,
  isLoopbackHost,
  LOOPBACK_HOST,
  type LoadedYaml,
  readPasswordFile,
  readSecretFile,
  readSigningKeyFile,
  readYamlConfig,
  refuseKernelDir,
  refuseZeroPorts,
  type UserCredential,
  userPublicKey,
  validateConfig,
} from "../common/index.js";
import {
  arr,
  bool,
  type Infer,
  int,
  obj,
  optional,
  type SigningKey,
  str,
  TRE_NAME,
} from "../protocol/index.js";
import { HUB_DEFAULTS } from "./hub-defaults.js";
import { type HubOperatorConfig, loadOperator, operatorSectionSchema } from "./hub-operator-config.js";

export type { HubOperatorConfig };

import { type HubTls, hubTlsSchema, loadHubTls } from "./hub-tls-config.js";
import { ROUTE_URL, SERVER_NAME } from "./server-config.js";

const port = int({ min: -1, max: 65_535 });
const _path = str({ min: 1, max: 4096 });
const user = obj({
  user: str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a user name" }),
  passwordFile: str({ min: 1, max: 4096 }),
});

export const hubConfigSchema = obj({
  /** nats-server `server_name`. Default "hub". */
  name: optional(str({ min: 1, max: 64, pattern: SERVER_NAME, what: "a server name" })),
  /** Interface every listener binds. Default 127.0.0.1. */
  host: optional(str({ min: 1, max: 255 })),
  /**
   * TLS on every listener (hub-tls-config.ts). Required when a listener binds a non-loopback address, unless
   * `insecure`.
   */
  tls: optional(hubTlsSchema),
  /** Allow plaintext listeners on a non-loopback address. Default false; only for a network trusted completely. */
  insecure: optional(bool()),
  /**
   * Interface the monitoring port binds. Default 127.0.0.1: `/varz` and `/leafz` say much about the federation.
   * Any other address is served over HTTPS with `tls`.
   */
  monitorHost: optional(str({ min: 1, max: 255 })),
  /** Listener ports; -1 picks a free one (tests). Defaults: client 4222, leaf 7422, monitor 8222. */
  ports: optional(obj({ client: optional(port), leaf: optional(port), monitor: optional(port) })),
  /** JetStream store and the generated server config (owner-only); never in /proc or /sys. */
  dataDir: str({ min: 1, max: 4096 }),
  /** The hub's nkey seed (`tremesh keygen`); leaves pin its public key. */
  signingKeyFile: str({ min: 1, max: 4096 }),
  /** Config mode: federation admins, FED-account users for `tremesh admin` and `tremesh audit`. At least one. */
  admins: optional(arr(user, { min: 1, max: 100 })),
  /** Config mode: researchers' connection users (see HubServerModel.researchers). */
  researchers: optional(arr(user, { max: 10_000 })),
  /** Config mode: the member TREs. At least one. */
  tres: optional(
    arr(
      obj({
        name: str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" }),
        publicKey: userPublicKey,
        leaf: user,
      }),
      { min: 1, max: 1000 },
    ),
  ),
  /** Operator mode (hub-operator-config.ts): NATS JWT accounts instead of `admins`, `researchers` and `tres`. */
  operator: optional(operatorSectionSchema),
  /**
   * Clustering with the other hub nodes. Every node lists every node's route URL (its own included: nats-server
   * recognises and skips itself), so the nodes' sections are identical.
   */
  cluster: optional(
    obj({
      /** The cluster's name; the same on every node. Default "tremesh-hub". */
      name: optional(str({ min: 1, max: 64, pattern: SERVER_NAME, what: "a cluster name" })),
      /** The route port the other nodes dial. Fixed (not -1): it is in their route URLs. */
      port: int({ min: 1, max: 65_535 }),
      /** Interface the route listener binds. Default: `host`. */
      host: optional(str({ min: 1, max: 255 })),
      /** Every node's `nats-route://host:port` (no credentials in the URL: they come from `authorization`). */
      routes: arr(str({ min: 1, max: 2048, pattern: ROUTE_URL, what: "a nats-route://host:port URL" }), {
        min: 1,
        max: 16,
      }),
      /** The route user every node presents and accepts; the password file is a secret like the others. */
      authorization: user,
    }),
  ),
  /**
   * How many nodes keep each hub stream and bucket (TASKS, results, the FED view, registry, tasks, audit, dead
   * letters). Default 1 standalone, 3 with `cluster`. Raising it on an existing hub re-replicates on start.
   */
  replicas: optional(int({ min: 1, max: 5 })),
  /** After how long without a heartbeat a TRE counts as offline, in ms. Default 30 000. */
  offlineAfterMs: optional(int({ min: 1000, max: 86_400_000 })),
  /**
   * How long each TRE's TASKS stream keeps a task, in ms. Default 1 209 600 000 (14 days): a TRE may be offline for
   * days. A task its TRE has not taken by then is dropped from TASKS and ends `expired` for that TRE.
   */
  tasksMaxAgeMs: optional(int({ min: 1000, max: 90 * 86_400_000 })),
  /** How often the hub looks for tasks that expired so, in ms. Default 60 000. */
  expiryCheckIntervalMs: optional(int({ min: 100, max: 86_400_000 })),
});
export type HubConfigFile = Infer<typeof hubConfigSchema>;

/** hub.yaml with paths resolved and secrets read. Holds secrets: never log it. */
export interface HubConfig {
  file: string;
  name: string;
  host: string;
  /** Interface of the monitoring port (HTTPS when it is not loopback). */
  monitorHost: string;
  ports: { client: number; leaf: number; monitor: number };
  /** TLS on every listener; absent only on loopback or with `insecure: true`. */
  tls?: HubTls;
  /** hub.yaml said `insecure: true` and a listener is not on loopback: `hub start` warns at every start. */
  insecure: boolean;
  dataDir: string;
  hubKey: SigningKey;
  /** Config mode's FED users; empty in operator mode. */
  admins: UserCredential[];
  /** Config mode's researcher users; empty in operator mode (researchers hold creds). */
  researchers: UserCredential[];
  /** Config mode's member TREs; empty in operator mode (TREs come from the registry). */
  tres: { name: string; publicKey: string; leaf: UserCredential }[];
  /** Present in operator mode (JWT accounts), absent in config mode. */
  operator?: HubOperatorConfig;
  /** Present on a clustered hub node. Holds the route password. */
  cluster?: HubClusterConfig;
  /** Replicas of every hub stream and bucket (1 standalone, 3 clustered unless set). */
  replicas: number;
  offlineAfterMs?: number;
  tasksMaxAgeMs: number;
  expiryCheckIntervalMs: number;
}

/** hub.yaml's `cluster` section, read and checked. Holds a secret (the route password). */
export interface HubClusterConfig {
  name: string;
  host: string;
  port: number;
  routes: string[];
  credential: UserCredential;
}

export async function loadHubConfig(file: string): Promise<HubConfig> {
  const loaded = await readYamlConfig(file);
  const c = validateConfig(loaded, hubConfigSchema);
  // Through the monitoring port the hub watches its leaf links; without the leafnode port no TRE can link.
  refuseZeroPorts(file, c.ports, {
    client: "nats-server's default client port, 4222",
    leaf: "no leafnode port: no TRE could link",
    monitor: "no monitoring port, and the hub watches its TREs' links through it",
  });
  refuseKernelDir(file, "dataDir", configPath(loaded, c.dataDir));
  const host = c.host ?? HUB_DEFAULTS.host;
  const monitorHost = c.monitorHost ?? LOOPBACK_HOST;
  const hosts = [
    { field: "host", host },
    { field: "cluster.host", host: c.cluster?.host ?? host },
    { field: "monitorHost", host: monitorHost },
  ];
  const tls = await loadHubTls(loaded, c, hosts);
  const common = {
    file,
    name: c.name ?? HUB_DEFAULTS.name,
    host,
    monitorHost,
    ...(tls ? { tls } : {}),
    insecure: tls === undefined && hosts.some((h) => !isLoopbackHost(h.host)),
    ports: {
      client: c.ports?.client ?? HUB_DEFAULTS.ports.client,
      leaf: c.ports?.leaf ?? HUB_DEFAULTS.ports.leaf,
      monitor: c.ports?.monitor ?? HUB_DEFAULTS.ports.monitor,
    },
    dataDir: configPath(loaded, c.dataDir),
    hubKey: await readSigningKeyFile(loaded, "signingKeyFile", c.signingKeyFile),
    ...(c.offlineAfterMs === undefined ? {} : { offlineAfterMs: c.offlineAfterMs }),
    tasksMaxAgeMs: c.tasksMaxAgeMs ?? HUB_DEFAULTS.tasksMaxAgeMs,
    expiryCheckIntervalMs: c.expiryCheckIntervalMs ?? HUB_DEFAULTS.expiryCheckIntervalMs,
    ...(await loadCluster(loaded, c)),
  };
  if (c.operator !== undefined) {
    for (const field of ["admins", "researchers", "tres"] as const) {
      if (c[field] !== undefined) {
        throw new ConfigFileError(
          file,
          field,
          "must be absent with `operator` (in operator mode users hold creds and TREs join through the registry)",
        );
      }
    }
    return {
      ...common,
      admins: [],
      researchers: [],
      tres: [],
      operator: await loadOperator(loaded, c.operator),
    };
  }
  for (const field of ["admins", "tres"] as const) {
    if (c[field] === undefined)
      throw new ConfigFileError(file, field, "is required (or an `operator` section)");
  }
  const admins = c.admins ?? [];
  const tres = c.tres ?? [];
  const names = new Set<string>();
  tres.forEach((t, i) => {
    if (names.has(t.name)) throw new ConfigFileError(file, `tres[${i}].name`, `TRE ${t.name} appears twice`);
    names.add(t.name);
  });
  const credential = async (field: string, u: { user: string; passwordFile: string }) => ({
    user: u.user,
    password: await readPasswordFile(loaded, `${field}.passwordFile`, u.passwordFile),
  });
  return {
    ...common,
    admins: await Promise.all(admins.map((a, i) => credential(`admins[${i}]`, a))),
    researchers: await Promise.all((c.researchers ?? []).map((r, i) => credential(`researchers[${i}]`, r))),
    tres: await Promise.all(
      tres.map(async (t, i) => ({
        name: t.name,
        publicKey: t.publicKey,
        leaf: await credential(`tres[${i}].leaf`, t.leaf),
      })),
    ),
  };
}

/** The `cluster` section and the replicas it implies; a standalone hub cannot keep more than one copy. */
async function loadCluster(
  loaded: LoadedYaml,
  c: HubConfigFile,
): Promise<{ cluster?: HubClusterConfig; replicas: number }> {
  if (c.cluster === undefined) {
    if (c.replicas !== undefined && c.replicas > 1)
      throw new ConfigFileError(
        loaded.file,
        "replicas",
        "needs a `cluster` section (a lone node keeps one copy)",
      );
    return { replicas: 1 };
  }
  const replicas = c.replicas ?? HUB_DEFAULTS.clusterReplicas;
  // nats-server sizes a fresh cluster's JetStream meta group by the routes it is given: with fewer than the nodes,
  // a quorum of too few can form the group without the others.
  if (c.cluster.routes.length < replicas)
    throw new ConfigFileError(
      loaded.file,
      "cluster.routes",
      `names ${c.cluster.routes.length} node(s) for ${replicas} replicas: list every node's route, this node's own too`,
    );
  const auth = c.cluster.authorization;
  return {
    cluster: {
      name: c.cluster.name ?? HUB_DEFAULTS.clusterName,
      host: c.cluster.host ?? c.host ?? HUB_DEFAULTS.host,
      port: c.cluster.port,
      routes: c.cluster.routes,
      credential: {
        user: auth.user,
        password: await readSecretFile(loaded, "cluster.authorization.passwordFile", auth.passwordFile),
      },
    },
    replicas,
  };
}
