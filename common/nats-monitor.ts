/**
 * Typed reads of a nats-server's HTTP monitoring endpoints: which leaf links are up, and to which
 * account they are bound; whether a clustered server's JetStream has its meta group. Used by the mesh tests,
 * by a clustered hub node waiting for its peers, and by hub status tooling.
 */
import { readFile } from "node:fs/promises";
import type { PeerCertificate } from "node:tls";

/** One leaf link as `/leafz` reports it (nats-server 2.10; fields we rely on). */
export interface LeafLinkInfo {
  /** The server_name of the server at the other end. */
  name: string;
  /**
   * True when this server dialled out (it is the spoke); false when the other end dialled in.
   * On the hub every link must be false: the hub never dials a TRE.
   */
  is_spoke: boolean;
  /** The local account this link is bound to. */
  account: string;
  /** Address of the other end: the remote's ephemeral port on the accepting side, the listener on the dialling side. */
  ip: string;
  port: number;
  subscriptions: number;
  /** Present with `?subs=1`: the subjects the other end has interest in. */
  subscriptions_list?: string[];
}

export interface Leafz {
  server_id: string;
  leafnodes: number;
  leafs: LeafLinkInfo[];
}

export class NatsMonitorError extends Error {
  override readonly name = "NatsMonitorError";
  readonly url: string;
  constructor(url: string, problem: string, options?: ErrorOptions) {
    super(`${url}: ${problem}`, options);
    this.url = url;
  }
}

/** The JetStream meta group as a clustered server's `/jsz` reports it (nats-server 2.10; fields we rely on). */
export interface MetaCluster {
  /** The meta leader's server name; absent while there is none. */
  leader?: string;
  /**
   * The meta group's size: on a fresh cluster, the number of routes each node was given (so every node names
   * every node's route, its own too), growing if more servers join.
   */
  cluster_size: number;
  /** The other members as the leader last heard from them; only the leader's own `/jsz` lists them. */
  replicas?: { name: string; current: boolean }[];
}

/**
 * How to trust an `https://` monitoring port (a hub whose monitoring leaves loopback): the CA file and, for a
 * node asking itself, which of its certificate's names to expect (as `besideServerTlsOptions` gives them).
 */
export interface MonitorTls {
  caFile: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** GET `<monitorUrl>/jsz`'s meta group; undefined on a server that is not clustered. */
export async function fetchMetaCluster(
  monitorUrl: string,
  tls?: MonitorTls,
): Promise<MetaCluster | undefined> {
  const body = (await getJson(new URL("/jsz", monitorUrl), tls)) as { meta_cluster?: Partial<MetaCluster> };
  const meta = body.meta_cluster;
  if (meta === undefined) return undefined;
  return {
    ...(meta.leader ? { leader: meta.leader } : {}),
    cluster_size: meta.cluster_size ?? 0,
    ...(meta.replicas ? { replicas: meta.replicas.map(({ name, current }) => ({ name, current })) } : {}),
  };
}

/** GET `<monitorUrl>/leafz` (with `?subs=1` when `subs`). */
export async function fetchLeafz(
  monitorUrl: string,
  options: { subs?: boolean; tls?: MonitorTls | undefined } = {},
): Promise<Leafz> {
  const url = new URL("/leafz", monitorUrl);
  if (options.subs === true) url.searchParams.set("subs", "1");
  const body = (await getJson(url, options.tls)) as Partial<Leafz>;
  return { server_id: body.server_id ?? "", leafnodes: body.leafnodes ?? 0, leafs: body.leafs ?? [] };
}

/**
 * GETs `url`'s JSON with node:http, or node:https, trusting the CA `tls` names when given (fetch() cannot be given
 * a CA of its own). Not fetch(): each leaf's agent asks its own server every few seconds whether the hub link is up, and
 * fetch's machinery cost 1.0–1.2 ms of CPU a request, against 0.5–0.6 ms here.
 */
async function getJson(url: URL, tls?: MonitorTls): Promise<unknown> {
  const secure = url.protocol === "https:";
  // Imported here, not above: every `tremesh` command loads this module, and node:http (with Node's HTTP server)
  // is ~5 ms of a researcher's command that never asks a monitoring endpoint anything.
  const { get } = secure ? await import("node:https") : await import("node:http");
  const ca = secure && tls ? await readFile(tls.caFile, "utf8") : undefined;
  return new Promise((resolve, reject) => {
    const fail = (problem: string, cause?: unknown) =>
      reject(new NatsMonitorError(url.href, problem, cause === undefined ? undefined : { cause }));
    const request = get(
      url,
      {
        // A connection of its own each time: a kept-alive one the server has since closed fails the next request.
        agent: false,
        timeout: 5_000,
        ...(ca === undefined ? {} : { ca }),
        ...(secure && tls?.checkServerIdentity ? { checkServerIdentity: tls.checkServerIdentity } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          if (response.statusCode !== 200) return fail(`HTTP ${response.statusCode}`);
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          } catch (cause) {
            fail("not JSON", cause);
          }
        });
        response.on("error", (cause) => fail("monitoring endpoint unreachable", cause));
      },
    );
    request.on("timeout", () => request.destroy(new Error("timed out")));
    request.on("error", (cause) => fail("monitoring endpoint unreachable", cause));
  });
}
