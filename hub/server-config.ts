/**
 * The hub's nats-server config in config mode (`hubServerConfig`): accounts, users and passwords in the file.
 * Operator mode, where the accounts are JWTs instead, renders from operator-server-config.ts; both share the
 * cross-account flows declared here, so the two modes cannot drift apart.
 *
 * Shape (both modes):
 * - accounts SYS (system), FED (hub services) and one `TRE_<name>` account per TRE, all but SYS with
 *   JetStream in the `hub` domain;
 * - a leafnode listener whose users each bind to exactly one TRE account, so a TRE's credential can
 *   never reach another TRE's subjects, and a leaf without credentials is refused;
 * - no leafnode remotes, routes or gateways: the hub never dials into a TRE;
 * - cross-account flow only through the explicit exports/imports listed in `hubAccountFlows`, every one of
 *   them between FED and one TRE account: TRE accounts never import from each other.
 */

import {
  ConfigModelError,
  type ConfMap,
  checkCredentials,
  isLoopbackHost,
  LOOPBACK_HOST,
  placeAll,
  serverTlsBlock,
  TLS_FIRST_FALLBACK,
  toNatsConf,
  type UserCredential,
} from "../common/index.js";
import { HUB_DOMAIN, isTreName, PROJECT_NAME, subjects } from "../protocol/index.js";
import { hubAccountFlows, researcherAccountFlows } from "./account-flows.js";
import { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT, RESEARCH_ACCOUNT, treAccountName } from "./account-names.js";
import { HUB_DEFAULTS } from "./hub-defaults.js";
import type { HubTls } from "./hub-tls-config.js";

/** The hub server's name, listeners and store: the same in config and operator mode. */
export interface HubListeners {
  /** `server_name`; leaves see it in their `/leafz`. Letters, digits, `_`, `-`, `.`. */
  serverName: string;
  /** Interface every listener binds. Default "127.0.0.1": exposing the hub is a deployment decision. */
  host?: string;
  /** Client port. Default -1: a free port, reported by the launcher. */
  clientPort?: number;
  /** Leafnode port the TREs dial. Default -1. */
  leafPort?: number;
  /** Monitoring port (`/varz`, `/leafz`), on `monitorHost`. Default -1. */
  monitorPort?: number;
  /** Interface of the monitoring port. Default "127.0.0.1"; any other is served over HTTPS (needs `tls`). */
  monitorHost?: string;
  /** TLS on the client, leafnode and route listeners (and HTTPS monitoring off loopback). Absent: plaintext. */
  tls?: HubTls;
  /** JetStream store directory. */
  storeDir: string;
  /** Routes to the other nodes of a clustered hub. Absent: a lone node. */
  cluster?: HubClusterModel;
}

/** A hub node's cluster listener and routes. Holds the route password: the rendered config is owner-only. */
export interface HubClusterModel {
  /** The cluster's name, the same on every node. */
  name: string;
  /** Interface the route listener binds. Default: the node's `host`. */
  host?: string;
  port: number;
  /** Every node's `nats-route://host:port`, this one's included (nats-server skips itself). */
  routes: readonly string[];
  /** The one route user: presented to the other nodes and required from them. */
  credential: UserCredential;
}

/** A route URL as hub.yaml takes it: no credentials, no path. */
export const ROUTE_URL = /^nats-route:\/\/[^\s/@]+:\d{1,5}$/;

/**
 * What both server-config models put first: the node's name, its client and monitoring listeners, JetStream in
 * the hub's domain and, on a clustered hub, its routes (`clusterBlock`). The leaf listener binds the same host.
 */
export function listenerBlock(listeners: HubListeners): ConfMap {
  const tls = listeners.tls;
  const monitorHost = listeners.monitorHost ?? LOOPBACK_HOST;
  const https = !isLoopbackHost(monitorHost);
  if (https && !tls)
    throw new ConfigModelError("monitorHost", "a monitoring port off loopback needs `tls` (HTTPS)");
  return {
    server_name: listeners.serverName,
    host: listeners.host ?? HUB_DEFAULTS.host,
    port: listeners.clientPort ?? -1,
    // Clients present no certificate: they log in with their creds or password, over TLS.
    tls: tls
      ? serverTlsBlock(tls.files, {
          verify: false,
          minVersion: tls.minVersion,
          handshakeFirst: TLS_FIRST_FALLBACK,
        })
      : undefined,
    [https ? "https" : "http"]: `${monitorHost}:${listeners.monitorPort ?? -1}`,
    jetstream: { domain: HUB_DOMAIN, store_dir: listeners.storeDir },
    cluster: clusterBlock(listeners),
  };
}

/**
 * The leafnode listener both modes render: on `host`, with TLS when the hub has it, and then with the leaves'
 * client certificates required when hub.yaml asks for them (`leafClientCerts`).
 */
export function leafnodeListener(listeners: HubListeners, rest: ConfMap = {}): ConfMap {
  const tls = listeners.tls;
  return {
    host: listeners.host ?? HUB_DEFAULTS.host,
    port: listeners.leafPort ?? -1,
    // Every leaf starts with the handshake (remoteTlsBlock): nothing of a TRE's link is in the clear.
    tls: tls
      ? serverTlsBlock(tls.files, {
          verify: tls.leafClientCerts,
          minVersion: tls.minVersion,
          handshakeFirst: true,
        })
      : undefined,
    ...rest,
  };
}

/**
 * The `cluster` block both modes render. Routes carry the route user's credentials (URL-encoded), so a node
 * accepts only routes from the other nodes; `no_advertise` keeps the route addresses out of what clients and
 * leaves learn (they use the URLs they were given).
 */
function clusterBlock(listeners: HubListeners): ConfMap | undefined {
  const cluster = listeners.cluster;
  if (!cluster) return undefined;
  if (!SERVER_NAME.test(cluster.name))
    throw new ConfigModelError("cluster.name", `not a valid cluster name: ${JSON.stringify(cluster.name)}`);
  if (!Number.isInteger(cluster.port) || cluster.port < 1 || cluster.port > 65_535)
    throw new ConfigModelError("cluster.port", "must be a fixed port (the other nodes' routes name it)");
  if (cluster.routes.length === 0) throw new ConfigModelError("cluster.routes", "needs at least one route");
  checkCredentials([{ field: "cluster.credential", credential: cluster.credential }]);
  const secret = `${encodeURIComponent(cluster.credential.user)}:${encodeURIComponent(cluster.credential.password)}@`;
  return {
    name: cluster.name,
    host: cluster.host ?? listeners.host ?? HUB_DEFAULTS.host,
    port: cluster.port,
    authorization: { user: cluster.credential.user, password: cluster.credential.password },
    // Mutual TLS between nodes: a route from a node without a certificate the CA issued is refused.
    tls: listeners.tls
      ? serverTlsBlock(listeners.tls.files, { verify: true, minVersion: listeners.tls.minVersion })
      : undefined,
    routes: cluster.routes.map((url, i) => {
      if (!ROUTE_URL.test(url))
        throw new ConfigModelError(
          `cluster.routes[${i}]`,
          `not a nats-route://host:port URL: ${JSON.stringify(url)}`,
        );
      return url.replace("nats-route://", `nats-route://${secret}`);
    }),
    no_advertise: true,
  };
}

export interface HubServerModel extends HubListeners {
  /** User in the system account, for server monitoring requests. */
  system: UserCredential;
  /** The federation account's users (hub services, admin tooling). At least one. */
  fed: { users: UserCredential[] };
  /** The member TREs; each gets its own account and leaf credential. At least one (see `checkHubModel`). */
  tres: HubTreModel[];
  /**
   * Researchers' connection users (account RESEARCH). Each may publish only to the researcher services and
   * subscribe only below its own inbox prefix (`subjects.researcherInbox(user)`; clients set it as
   * `inboxPrefix`), so no researcher reads another's replies. Names follow the project-name rule. Default none.
   */
  researchers?: UserCredential[];
}

export interface HubTreModel {
  /** TRE name (see protocol/names.ts). */
  name: string;
  /** The only credential that binds a leaf link to this TRE's account. Given to the TRE at onboarding. */
  leaf: UserCredential;
  /** Hub-side client users inside this TRE's account (e.g. admin tooling managing its TASKS stream). Default none. */
  users?: UserCredential[];
}

/** A researcher's connection permissions: the three services out, its own inbox in. */
function researcherUserEntry(c: UserCredential): ConfMap {
  return {
    ...userEntry(c),
    permissions: {
      publish: { allow: [subjects.submit, subjects.cancelRequest, subjects.query] },
      subscribe: { allow: [`${subjects.researcherInbox(c.user)}.>`] },
    },
  };
}

/**
 * Renders the hub config text. Throws ConfigModelError for a bad model. The text contains passwords:
 * write it with owner-only permissions and never log it.
 *
 * @example
 * const text = hubServerConfig({ serverName: "hub", storeDir, system, fed: { users: [svc] }, tres: [{ name: "a", leaf }] });
 */
export function hubServerConfig(model: HubServerModel): string {
  checkHubModel(model);
  const flows = [...hubAccountFlows(model.tres.map((t) => t.name)), ...researcherAccountFlows()];

  const users = new Map<string, UserCredential[]>([
    [HUB_SYSTEM_ACCOUNT, [model.system]],
    [FED_ACCOUNT, model.fed.users],
    [RESEARCH_ACCOUNT, model.researchers ?? []],
    ...model.tres.map((tre): [string, UserCredential[]] => [treAccountName(tre.name), tre.users ?? []]),
  ]);
  const exports = new Map<string, ConfMap[]>();
  const imports = new Map<string, ConfMap[]>();
  for (const flow of flows) {
    if (!users.has(flow.exporter) || !users.has(flow.importer)) {
      throw new ConfigModelError("flows", `unknown account in ${JSON.stringify(flow)}`);
    }
    append(exports, flow.exporter, { [flow.kind]: flow.subject, accounts: [flow.importer] });
    append(imports, flow.importer, {
      [flow.kind]: { account: flow.exporter, subject: flow.subject },
      to: flow.localSubject,
    });
  }
  const accounts: Record<string, ConfMap> = {};
  for (const [name, accountUsers] of users) {
    const entry = name === RESEARCH_ACCOUNT ? researcherUserEntry : userEntry;
    accounts[name] = {
      // SYS must not have JetStream, and researchers need none; every other account gets it in the hub domain.
      jetstream: name === HUB_SYSTEM_ACCOUNT || name === RESEARCH_ACCOUNT ? undefined : "enabled",
      users: accountUsers.length === 0 ? undefined : accountUsers.map(entry),
      exports: exports.get(name),
      imports: imports.get(name),
    };
  }

  return toNatsConf({
    ...listenerBlock(model),
    system_account: HUB_SYSTEM_ACCOUNT,
    accounts,
    leafnodes: leafnodeListener(model, {
      // With users here, nats-server checks leaf links against this list only (never the client users),
      // and binds each link to the listed account whatever the leaf asks for.
      authorization: {
        users: model.tres.map((tre) => ({ ...userEntry(tre.leaf), account: treAccountName(tre.name) })),
      },
    }),
  });
}

function userEntry(c: UserCredential): ConfMap {
  return { user: c.user, password: c.password };
}

function append(map: Map<string, ConfMap[]>, key: string, entry: ConfMap): void {
  map.set(key, [...(map.get(key) ?? []), entry]);
}

/** A valid `server_name`, in either mode. */
export const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkHubModel(model: HubServerModel): void {
  if (!SERVER_NAME.test(model.serverName)) {
    throw new ConfigModelError("serverName", `not a valid server name: ${JSON.stringify(model.serverName)}`);
  }
  if (model.storeDir === "") throw new ConfigModelError("storeDir", "empty");
  if (model.fed.users.length === 0) throw new ConfigModelError("fed.users", "needs at least one user");
  // With an empty leafnode user list nats-server 2.10 falls back to its client users and to anonymous
  // links: a leaf presenting FED's password would bind to FED, an anonymous one to $G. Never render that.
  if (model.tres.length === 0) {
    throw new ConfigModelError(
      "tres",
      "needs at least one TRE (an empty leafnode user list lets any leaf in)",
    );
  }
  const names = new Set<string>();
  model.tres.forEach((tre, i) => {
    if (!isTreName(tre.name))
      throw new ConfigModelError(`tres[${i}].name`, `not a valid TRE name: ${JSON.stringify(tre.name)}`);
    // A leaf's JetStream domain is its TRE name; one named like the hub's would merge into the hub's domain.
    if (tre.name === HUB_DOMAIN)
      throw new ConfigModelError(
        `tres[${i}].name`,
        `${JSON.stringify(tre.name)} is the hub's JetStream domain`,
      );
    if (names.has(tre.name))
      throw new ConfigModelError(`tres[${i}].name`, `TRE ${JSON.stringify(tre.name)} appears twice`);
    names.add(tre.name);
  });
  (model.researchers ?? []).forEach((r, i) => {
    if (!PROJECT_NAME.test(r.user)) {
      throw new ConfigModelError(
        `researchers[${i}].user`,
        `${JSON.stringify(r.user)} is not a researcher user name (lower-case letters, digits, _ and -)`,
      );
    }
  });
  checkCredentials([
    { field: "system", credential: model.system },
    ...placeAll("fed.users", model.fed.users),
    ...placeAll("researchers", model.researchers ?? []),
    ...model.tres.flatMap((tre, i) => placeAll(`tres[${i}].users`, tre.users ?? [])),
  ]);
  checkCredentials(model.tres.map((tre, i) => ({ field: `tres[${i}].leaf`, credential: tre.leaf })));
}
