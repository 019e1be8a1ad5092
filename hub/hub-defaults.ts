/**
 * Every default of a hub, in one place: hub.yaml's loader, the server-config models, the node and its
 * services all read them from here, so a default is written once. hub.yaml's documentation states them.
 */
import { LOOPBACK_HOST, SOURCE_CHECK_INTERVAL_MS } from "../common/index.js";

export const HUB_DEFAULTS = {
  /** The server's name (`server_name`), unique within a cluster. */
  name: "hub",
  /** Interface every listener binds: exposing the hub is a deployment decision. */
  host: LOOPBACK_HOST,
  /** nats-server's standard ports: clients, leaf nodes, monitoring, cluster routes. */
  ports: { client: 4222, leaf: 7422, monitor: 8222, cluster: 6222 },
  /** A clustered hub's cluster name. */
  clusterName: "tremesh-hub",
  /** Copies of each stream on a clustered hub (a lone node keeps one). */
  clusterReplicas: 3,
  /** How often stale result sources are looked for, ms. */
  sourceCheckIntervalMs: SOURCE_CHECK_INTERVAL_MS,
  /** How long a TRE whose streams could not be set up waits before the next try, ms. */
  treRetryIntervalMs: 5_000,
  /** How often the services look for submissions left half-done by a crash, ms. */
  recoveryIntervalMs: 5_000,
  /** How long a clustered node waits for the others to form the cluster, ms. */
  clusterWaitMs: 120_000,
  /** A TRE whose heartbeats stop for this long, ms, counts as offline. */
  offlineAfterMs: 30_000,
  /** How long a TRE's TASKS stream keeps a task, ms: a TRE may be offline for days. */
  tasksMaxAgeMs: 14 * 86_400_000,
  /** How often the services look for tasks a TRE never took before TASKS dropped them, ms. */
  expiryCheckIntervalMs: 60_000,
};
