/**
 * Typed reads of a nats-server's HTTP monitoring endpoints: which leaf links are up, and to which
 * account they are bound; whether a clustered server's JetStream has its meta group. Used by the mesh tests,
 * by a clustered hub node waiting for its peers, and by hub status tooling.
 */

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
  /** How many servers the meta group knows of: it grows as the nodes first meet. */
  cluster_size: number;
}

/** GET `<monitorUrl>/jsz`'s meta group; undefined on a server that is not clustered. */
export async function fetchMetaCluster(monitorUrl: string): Promise<MetaCluster | undefined> {
  const body = (await getJson(new URL("/jsz", monitorUrl))) as { meta_cluster?: Partial<MetaCluster> };
  const meta = body.meta_cluster;
  if (meta === undefined) return undefined;
  return { ...(meta.leader ? { leader: meta.leader } : {}), cluster_size: meta.cluster_size ?? 0 };
}

/** GET `<monitorUrl>/leafz` (with `?subs=1` when `subs`). */
export async function fetchLeafz(monitorUrl: string, options: { subs?: boolean } = {}): Promise<Leafz> {
  const url = new URL("/leafz", monitorUrl);
  if (options.subs === true) url.searchParams.set("subs", "1");
  const body = (await getJson(url)) as Partial<Leafz>;
  return { server_id: body.server_id ?? "", leafnodes: body.leafnodes ?? 0, leafs: body.leafs ?? [] };
}

async function getJson(url: URL): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  } catch (cause) {
    throw new NatsMonitorError(url.href, "monitoring endpoint unreachable", { cause });
  }
  if (!response.ok) throw new NatsMonitorError(url.href, `HTTP ${response.status}`);
  return response.json();
}
