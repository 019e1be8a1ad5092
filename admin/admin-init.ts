/**
 * `tremesh admin init`, the one step that needs no running hub: it makes the operator and the accounts every
 * later change builds on, and the hub's own config, so the hub can start in operator mode from this folder.
 */
import { stringify } from "yaml";
import { isLoopbackHost, randomPassword } from "../common/index.js";
import {
  fedAccountJwt,
  HUB_DEFAULTS,
  newUserCreds,
  operatorJwt,
  researchAccountJwt,
  SERVER_NAME,
  systemAccountJwt,
} from "../hub/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import type { AdminStore, FederationState } from "./admin-store.js";
import { CA_CERT, type ExternalTls, hubTlsSection, writeFederationTls } from "./admin-tls.js";

export interface InitOptions {
  /** The operator's name (in every JWT it signs). Default "tremesh". */
  operatorName?: string;
  /** The hub's `server_name`. Default "hub". */
  hubName?: string;
  /** Interface the hub binds. Default 127.0.0.1. */
  host?: string;
  /** Hub ports. Defaults: client 4222, leaf 7422, monitor 8222. */
  ports?: { client?: number; leaf?: number; monitor?: number };
  /** URLs clients use to reach the hub. Default `nats://<host>:<client>`. */
  clientUrls?: string[];
  /** URLs TRE leaves dial. Default `nats-leaf://<host>:<leaf>`. */
  leafUrls?: string[];
  /** The hub's offline threshold for TREs, in ms. Default: the hub's own. */
  offlineAfterMs?: number;
  /**
   * A clustered hub instead of one node: an odd number (3 or 5) of nodes, each with its own hub.yaml
   * (`hub/<name>.yaml`, data in `hub/data-<name>`) and the same route password. `hubName`, `host`, `ports`,
   * `clientUrls` and `leafUrls` then come from the nodes.
   */
  nodes?: readonly HubNodePlan[];
  /**
   * TLS on every hub listener. Default: a private federation CA made here issues each node a certificate naming
   * its hosts (and the hosts of `clientUrls`/`leafUrls`). `external`: the operator's own CA and node certificates,
   * checked and copied in. `false`: plaintext, only for a hub on loopback unless `insecure` says otherwise.
   */
  tls?: { external?: ExternalTls } | false;
  /** With `tls: false` and a hub off loopback: write `insecure: true` (every link plaintext). Default false. */
  insecure?: boolean;
}

/** One node of a clustered hub: its name (`server_name`), the address the others and the TREs reach, its ports. */
export interface HubNodePlan {
  name: string;
  host: string;
  ports?: { client?: number; leaf?: number; monitor?: number; cluster?: number };
}

export interface InitResult {
  state: FederationState;
  /** The (first) hub node's hub.yaml. */
  hubConfig: string;
  /** Every hub node's hub.yaml: one, or one per cluster node. */
  hubConfigs: string[];
  adminProfile: string;
}

/**
 * `tremesh admin init`: the operator, SYS, FED and RESEARCH accounts, the hub's signing key and its users, and
 * hub/hub.yaml in operator mode. Works offline; refuses a folder that already holds a federation.
 */
export async function initFederation(store: AdminStore, options: InitOptions = {}): Promise<InitResult> {
  if (store.exists) {
    throw new AdminError(
      `${store.dir} already holds a federation; nothing was changed`,
      AdminErrorCode.failed,
    );
  }
  const nodes = hubNodes(options);
  const useTls = options.tls !== false;
  if (!useTls && !options.insecure && nodes.some((n) => !isLoopbackHost(n.host)))
    throw new AdminError(
      "admin init: a hub off loopback needs TLS (drop --no-tls; give --tls-ca/--tls-cert/--tls-key for your own PKI), or --insecure for plaintext on a network you trust completely",
      AdminErrorCode.usage,
    );
  const scheme = { client: useTls ? "tls" : "nats", leaf: useTls ? "tls" : "nats-leaf" };
  const operator = generateKeyPair("operator");
  const sys = generateKeyPair("account");
  const fed = generateKeyPair("account");
  const research = generateKeyPair("account");
  const hubKey = generateKeyPair("user");
  const state: FederationState = {
    version: 1,
    operator: { name: options.operatorName ?? "tremesh", publicKey: operator.publicKey },
    hub: {
      clientUrls: options.clientUrls ?? nodes.map((n) => `${scheme.client}://${n.host}:${n.ports.client}`),
      leafUrls: options.leafUrls ?? nodes.map((n) => `${scheme.leaf}://${n.host}:${n.ports.leaf}`),
      signingKey: hubKey.publicKey,
    },
    accounts: { system: sys.publicKey, fed: fed.publicKey, research: research.publicKey },
    tres: {},
    researchers: {},
  };
  if (useTls) {
    const ca = await writeFederationTls(
      store,
      nodes.map((n) => ({ name: n.name, hosts: nodeHosts(n, state.hub, nodes.length === 1) })),
      options.tls ? options.tls.external : undefined,
    );
    state.tls = { ca };
  }
  await store.saveSeed("operator", operator.seed);
  await store.saveSeed("SYS", sys.seed);
  await store.saveSeed("FED", fed.seed);
  await store.saveSeed("RESEARCH", research.seed);
  await store.writePublic(
    "operator.jwt",
    `${await operatorJwt(state.operator.name, operator.seed, sys.publicKey)}\n`,
  );
  await store.saveAccountJwt("SYS", await systemAccountJwt(operator.seed, sys.publicKey));
  await store.saveAccountJwt(
    "FED",
    await fedAccountJwt(operator.seed, { account: fed.seed, research: research.publicKey, tres: [] }),
  );
  await store.saveAccountJwt(
    "RESEARCH",
    await researchAccountJwt(operator.seed, { account: research.publicKey, fed: fed.seed }),
  );

  const client = (name: string, account: string) => newUserCreds({ name, account, connection: "client" });
  await store.writeSecret("admin.creds", (await client("admin", fed.seed)).creds);
  await store.writeSecret("system.creds", (await client("admin-system", sys.seed)).creds);
  await store.writeSecret("hub/secrets/services.creds", (await client("hub-services", fed.seed)).creds);
  await store.writeSecret("hub/secrets/hub.seed", `${hubKey.seed}\n`);
  const clustered = options.nodes !== undefined;
  if (clustered) await store.writeSecret("hub/secrets/route.password", `${randomPassword()}\n`);
  const hubConfigs: string[] = [];
  for (const node of nodes) {
    const file = clustered ? `hub/${node.name}.yaml` : "hub/hub.yaml";
    const config = {
      name: node.name,
      host: node.host,
      ports: { client: node.ports.client, leaf: node.ports.leaf, monitor: node.ports.monitor },
      ...(useTls ? { tls: hubTlsSection(node.name) } : options.insecure ? { insecure: true } : {}),
      dataDir: clustered ? `./data-${node.name}` : "./data",
      signingKeyFile: "./secrets/hub.seed",
      operator: {
        jwtFile: "../operator.jwt",
        accountsDir: "../accounts",
        servicesCredsFile: "./secrets/services.creds",
        treCredsDir: "./tre-creds",
      },
      ...(clustered
        ? {
            cluster: {
              port: node.ports.cluster,
              routes: nodes.map((n) => `nats-route://${n.host}:${n.ports.cluster}`),
              authorization: { user: "route", passwordFile: "./secrets/route.password" },
            },
          }
        : {}),
      ...(options.offlineAfterMs === undefined ? {} : { offlineAfterMs: options.offlineAfterMs }),
    };
    hubConfigs.push(
      await store.writePublic(
        file,
        [
          `# ${clustered ? `Hub node ${node.name} of ${nodes.length}` : "The hub"} in operator mode, made by \`tremesh admin init\`. Start it with:`,
          `#   tremesh hub start --config ${file.slice("hub/".length)}`,
          "# accounts/ holds every account JWT; the hub preloads it at start, and `tremesh admin` pushes each change.",
          ...(clustered
            ? [
                "# Copy this folder (with secrets/ and tre-creds/) to each node; every node keeps its own data-<name>/.",
              ]
            : []),
          stringify(config),
        ].join("\n"),
      ),
    );
  }
  const adminProfile = await store.writePublic(
    "admin.profile.yaml",
    stringify({
      hub: state.hub.clientUrls.join(","),
      ...(useTls ? { caFile: `./${CA_CERT}` } : options.insecure ? { insecure: true } : {}),
      credsFile: "./admin.creds",
    }),
  );
  await store.save(state);
  return { state, hubConfig: hubConfigs[0]!, hubConfigs, adminProfile };
}

/**
 * The names a node's certificate must carry: its own host (unless it binds every interface), and for a lone node
 * the hosts of the client and leaf URLs people are given.
 */
function nodeHosts(
  node: HubNodePlan,
  hub: { clientUrls: readonly string[]; leafUrls: readonly string[] },
  alone: boolean,
): string[] {
  // An address that means "every interface" is nobody's name to dial.
  const wildcard = (host: string) => host === "0.0.0.0" || host === "::";
  const hosts = new Set<string>();
  if (!wildcard(node.host)) hosts.add(node.host);
  if (alone)
    for (const url of [...hub.clientUrls, ...hub.leafUrls]) {
      const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
      if (!wildcard(host)) hosts.add(host);
    }
  if (hosts.size === 0)
    throw new AdminError(
      `hub node ${node.name} binds every interface: give the URLs clients dial (--client-url, --leaf-url), which its certificate names`,
      AdminErrorCode.usage,
    );
  return [...hosts];
}

/** The hub's nodes with their ports: the one standalone node from `host`/`ports`, or the cluster's. */
function hubNodes(options: InitOptions): (HubNodePlan & { ports: typeof HUB_DEFAULTS.ports })[] {
  if (options.nodes === undefined) {
    return [
      {
        name: options.hubName ?? HUB_DEFAULTS.name,
        host: options.host ?? HUB_DEFAULTS.host,
        ports: { ...HUB_DEFAULTS.ports, ...options.ports },
      },
    ];
  }
  const count = options.nodes.length;
  if (count < 3 || count % 2 === 0)
    throw new AdminError(
      `a clustered hub needs 3 or 5 nodes (an odd number, so a majority survives a lost node); got ${count}`,
      AdminErrorCode.usage,
    );
  const names = new Set<string>();
  return options.nodes.map((n) => {
    if (!SERVER_NAME.test(n.name))
      throw new AdminError(
        `hub node name ${JSON.stringify(n.name)} is not a valid server name`,
        AdminErrorCode.usage,
      );
    if (names.has(n.name)) throw new AdminError(`hub node ${n.name} appears twice`, AdminErrorCode.usage);
    names.add(n.name);
    return { ...n, ports: { ...HUB_DEFAULTS.ports, ...n.ports } };
  });
}
