/**
 * Every default of a TRE's leaf, in one place: leaf.yaml's loader, the server-config model and the node read
 * them from here, so a default is written once. leaf.yaml's documentation states them.
 */
import { LOOPBACK_HOST, SOURCE_CHECK_INTERVAL_MS } from "../common/index.js";

export const LEAF_DEFAULTS = {
  /** Interface the local listeners bind: only the agent and TRE staff connect. */
  host: LOOPBACK_HOST,
  /** How often the agent tells the hub it is alive, ms. */
  heartbeatIntervalMs: 10_000,
  /** A task's wall-clock limit, ms. */
  taskTimeoutMs: 600_000,
  /**
   * How long the query executor keeps a file dataset open after its last query, for the next, ms. Opening one costs
   * many times what a small count on it does, and a busy machine spaces a federation's queries out: with 2 s, a
   * 100-TRE fan-out beside two CPU burners opened every TRE's dataset again for each task, and its executors took
   * 1.2 s of the round against 0.2 s with the datasets kept open (traced, 2026-12-07). A loader writing a DuckDB
   * file in place waits at most this long after the last query; one that moves a new file over the old need not.
   */
  datasetKeepOpenMs: 30_000,
  /**
   * Days an ended task's records (the agent's and the airlock's: outputs' bytes, decisions, the Release) are kept
   * after its last step; the TRE's audit chain keeps its history after that. At least 31 (task-retention.ts).
   */
  taskRetentionDays: 90,
  /** How often the agent looks for ended tasks past their retention, ms (and once at each start). */
  retentionSweepIntervalMs: 6 * 3_600_000,
  /** Tasks the agent runs at once. */
  maxConcurrentTasks: 2,
  /** Runs of one task, counting the first: an agent restart or a retryable executor failure is tried again. */
  maxTaskAttempts: 3,
  /** Wait before the second run after a retryable executor failure, ms; doubled for each later run. */
  retryBackoffMs: 5_000,
  /**
   * How long a task's progress (received, accepted, running) waits to be announced with its next step, ms: a task
   * that ends sooner sends one message to the hub, not two; the researcher sees a long one running this much later.
   */
  progressDelayMs: 2_000,
  /** Reviewers who must approve a held output before it is released. */
  approvalsRequired: 1,
  /** The TRE's PostgreSQL port. */
  postgresPort: 5432,
  /** The container engine's socket when neither leaf.yaml nor DOCKER_HOST names one. */
  dockerSocket: "/var/run/docker.sock",
  /** The user analysis containers run as: nobody. */
  containerUser: "65534:65534",
  /**
   * Cores the leaf's nats-server runs its Go code on at once (its GOMAXPROCS). One TRE's traffic needs far less than
   * a core, and with more the Go runtime spends CPU on every message handing it between threads: at a busy TRE's
   * pace a KV write cost the server about a third more CPU on two cores than on one (`npm run bench -- cores`).
   */
  natsServerCores: 1,
  /** How often stale INBOX sources are looked for, ms. */
  sourceCheckIntervalMs: SOURCE_CHECK_INTERVAL_MS,
};
