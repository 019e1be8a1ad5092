/**
 * `leaf.yaml`, the TRE operator's one file for `tremesh leaf start`: who the TRE is, how it reaches the hub
 * (and which hub key it pins), and what the TRE itself approves — projects, researchers, analyses and
 * images per project, datasets, reviewers. The agent re-checks every task against this file, never
 * against the hub's word. Secrets (the hub-link password or creds, the TRE's signing seed) live in their
 * own owner-only files.
 *
 * The hub link authenticates with `hub.user` + `hub.passwordFile` (a hub in config mode) or with
 * `hub.credsFile` (a hub in operator mode): a NATS creds file holding the TRE's leaf user JWT, issued in the
 * TRE's account with `LEAFNODE` allowed, and its seed. Exactly one of the two forms.
 *
 * @example
 * # leaf.yaml
 * tre: a
 * dataDir: ./leaf-a-data
 * signingKeyFile: ./secrets/tre-a.seed
 * hub:
 *   urls: [nats-leaf://hub.example.org:7422]
 *   user: leaf-a
 *   passwordFile: ./secrets/leaf-a.password
 *   publicKey: UD…                        # the hub's signing key, pinned
 *   # nextPublicKey: UE…                  # only while the federation changes its hub key: the next one
 *   # or, with a hub in operator mode, instead of user + passwordFile:
 *   # credsFile: ./secrets/leaf-a.creds
 * researchers:
 *   - { name: alice, publicKey: UA… }
 * projects:
 *   - name: diabetes
 *     researchers: [alice]
 *     analyses: [count, summary, histogram, crosstab, regression]
 *     datasets: [patients]
 */
import {
  ConfigFileError,
  configPath,
  isLoopbackHost,
  type LoadedYaml,
  readPasswordFile,
  readSecretFile,
  readServerTls,
  readSigningKeyFile,
  readYamlConfig,
  refuseKernelDir,
  refuseZeroPorts,
  type ServerTlsFiles,
  userPublicKey,
  validateConfig,
} from "../common/index.js";
import { type DatasetDefinition, datasetDefinitions } from "../executors/index.js";
import {
  arr,
  bool,
  IDENTIFIER,
  IMAGE_REF,
  type Infer,
  int,
  literal,
  MAX_HEARTBEAT_INTERVAL_MS,
  obj,
  optional,
  PROJECT_NAME,
  type SigningKey,
  str,
  TRE_NAME,
} from "../protocol/index.js";
import type { ReviewPolicy } from "./airlock.js";
import { type ContainerSettings, containerSettings, containersSchema } from "./container-settings.js";
import { DEFAULT_DISCLOSURE_RULES, type DisclosureRules, disclosureRules } from "./disclosure-rules.js";
import { type HubLink, hubLinkSchema, loadHubLink } from "./hub-link-config.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";
import { MIN_TASK_RETENTION_DAYS } from "./task-retention.js";

const personName = str({
  min: 1,
  max: 64,
  pattern: PROJECT_NAME,
  what: "a name (lower case, digits, _ and -)",
});
const identifier = str({ min: 1, max: 63, pattern: IDENTIFIER, what: "an identifier (letters, digits, _)" });
const analysisKinds = ["count", "summary", "histogram", "crosstab", "regression", "container"] as const;

const project = obj({
  name: str({ min: 1, max: 64, pattern: PROJECT_NAME, what: "a project name" }),
  /** Researchers (names from `researchers`) the TRE lets run tasks for this project. */
  researchers: arr(personName, { min: 1, max: 10_000, unique: true }),
  /** Analysis kinds allowed for this project. */
  analyses: arr(literal(...analysisKinds), { min: 1, max: 6, unique: true }),
  /** Datasets (names from `datasets`) this project may read. */
  datasets: arr(identifier, { max: 100, unique: true }),
  /** Container images this project may run, pinned by digest (only with analysis `container`). */
  images: optional(
    arr(str({ max: 300, pattern: IMAGE_REF, what: "an image pinned by digest" }), { max: 100 }),
  ),
  /** The TRE's own approval end, ISO date or date-time; tasks after it are refused. Default: no end. */
  until: optional(
    str({
      min: 10,
      max: 40,
      pattern: /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/,
      what: "an ISO date",
    }),
  ),
});

export const leafConfigSchema = obj({
  /** This TRE's name, as the hub knows it; also the leaf's JetStream domain. */
  tre: str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" }),
  /** nats-server `server_name`. Default `leaf-<tre>`. */
  name: optional(
    str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a server name" }),
  ),
  /**
   * Interface the client listener binds (the agent and the TRE's reviewers). Default 127.0.0.1. Any other address
   * needs `tls`, or `insecure: true`. The monitoring port always stays on 127.0.0.1.
   */
  host: optional(str({ min: 1, max: 255 })),
  /**
   * TLS on the leaf's client port, for reviewers who connect from other machines inside the TRE (their profiles pin
   * `caFile`): this leaf's certificate (naming `host`), its owner-only key, and the CA that issued it.
   */
  tls: optional(
    obj({
      certFile: str({ min: 1, max: 4096 }),
      keyFile: str({ min: 1, max: 4096 }),
      caFile: str({ min: 1, max: 4096 }),
    }),
  ),
  /** Allow a plaintext client port on a non-loopback `host`. Default false; only for a network trusted completely. */
  insecure: optional(bool()),
  /**
   * Cores the leaf's nats-server runs its Go code on at once (its GOMAXPROCS). Default 1: one TRE's traffic needs
   * less, and fewer cost less CPU a message. Raise it only for a TRE whose outputs are large and many at once.
   */
  natsServerCores: optional(int({ min: 1, max: 1024 })),
  /** Local listener ports; -1 picks a free one (0 is refused: nats-server reads it otherwise). Defaults: client -1, monitor -1. */
  ports: optional(
    obj({
      client: optional(int({ min: -1, max: 65_535 })),
      monitor: optional(int({ min: -1, max: 65_535 })),
    }),
  ),
  /** JetStream store, the generated server config and the airlock (owner-only); never in /proc or /sys. */
  dataDir: str({ min: 1, max: 4096 }),
  /** The TRE's signing nkey seed, made inside the TRE (`tremesh keygen`); only its public key leaves. */
  signingKeyFile: str({ min: 1, max: 4096 }),
  /** How the TRE reaches the hub, and the hub key it pins (two during a change of key; hub-link-config.ts). */
  hub: hubLinkSchema,
  /** Heartbeat interval, in ms. Default 10 000 (the hub calls a TRE offline after three missed beats). */
  heartbeatIntervalMs: optional(int({ min: 500, max: MAX_HEARTBEAT_INTERVAL_MS })),
  /** Researchers the TRE itself knows, with their signing keys. */
  researchers: optional(arr(obj({ name: personName, publicKey: userPublicKey }), { max: 10_000 })),
  /** The TRE's own approvals. A task for any other project is refused here whatever the hub says. */
  projects: optional(arr(project, { max: 1000 })),
  /**
   * Reviewers (data owners) whose signed decisions release outputs. `passwordFile` gives the reviewer a
   * login on this leaf (user = name) for `tremesh airlock …`; it reaches the review API and nothing else.
   */
  reviewers: optional(
    arr(
      obj({ name: personName, publicKey: userPublicKey, passwordFile: optional(str({ min: 1, max: 4096 })) }),
      { max: 1000 },
    ),
  ),
  /** The airlock's automated disclosure checks; every field has a default (leaf/disclosure-rules.ts). */
  disclosure: optional(disclosureRules),
  /** How outputs are reviewed. */
  review: optional(
    obj({
      /** Approvals of the same bytes by different reviewers that release an output. Default 1; 2 is the two-reviewer rule. */
      approvalsRequired: optional(int({ min: 1, max: 2 })),
      /** Release outputs that pass every disclosure check without a reviewer. Default false. */
      autoRelease: optional(bool()),
      /** How reviewers are told that outputs await them (besides the event on the controlled account). */
      notify: optional(
        obj({
          /** A command (argv, no shell) run with the notice as JSON on stdin. */
          command: optional(arr(str({ min: 1, max: 4096 }), { min: 1, max: 64 })),
          /** A URL that receives the notice as a JSON POST. */
          webhook: optional(str({ min: 1, max: 2048, pattern: /^https?:\/\//, what: "an http(s) URL" })),
          /** Longest a command or webhook may take, in ms. Default 10 000. */
          timeoutMs: optional(int({ min: 100, max: 600_000 })),
        }),
      ),
    }),
  ),
  /** The datasets researchers may name, with their allowed and identifier columns (see executors/query/dataset.ts). */
  datasets: optional(datasetDefinitions),
  /**
   * How long a file dataset stays open after its last query, for the next, in ms; 0 opens it for every query.
   * Default 30 000. A DuckDB database file is locked while open: a loader that writes it in place waits this long.
   */
  datasetKeepOpenMs: optional(int({ min: 0, max: 3_600_000 })),
  /**
   * The TRE's PostgreSQL admin connection, used only by the credential broker to make one short-lived,
   * column-limited role per task; the executor never sees it. Needed when a dataset has engine `postgres`.
   */
  postgres: optional(
    obj({
      host: str({ min: 1, max: 255 }),
      port: optional(int({ min: 1, max: 65_535 })),
      database: str({ min: 1, max: 63 }),
      user: str({ min: 1, max: 63 }),
      passwordFile: str({ min: 1, max: 4096 }),
      /** Prefix of the per-task roles; agents sharing a cluster need different ones. Default "tremesh_task_". */
      rolePrefix: optional(
        str({ min: 1, max: 30, pattern: /^[a-z_][a-z0-9_]{0,29}$/, what: "a role prefix" }),
      ),
    }),
  ),
  /** The container executor's engine and sandbox limits (container-settings.ts). Without it no container runs. */
  containers: optional(containersSchema),
  /** Wall-clock budget of one task's execution, in ms. Default 600 000 (10 minutes). */
  taskTimeoutMs: optional(int({ min: 1000, max: 86_400_000 })),
  /** Tasks executing at once. Default 2. */
  maxConcurrentTasks: optional(int({ min: 1, max: 64 })),
  /**
   * Runs one task may have here, counting the first. Default 3. A run interrupted by an agent restart (an
   * upgrade, a crash, a reboot), or ended by an executor failure its type calls retryable (the database or
   * container engine unreachable), is tried again until then; nothing of an interrupted run is kept, and a task is
   * released at most once. 1 turns retries off.
   */
  maxTaskAttempts: optional(int({ min: 1, max: 10 })),
  /**
   * Days an ended task's records stay at the TRE after its last step: the agent's record and all the airlock held of
   * it (outputs' bytes, reviewers' decisions, the Release). The TRE's audit chain keeps every task's history after
   * that. Default 90; at least 31, longer than any Dispatch is valid, so a replayed Dispatch is refused as expired.
   */
  taskRetentionDays: optional(int({ min: MIN_TASK_RETENTION_DAYS, max: 36_500 })),
  /** Wait before the second run after a retryable executor failure, in ms; doubled for each later run. Default 5 000. */
  retryBackoffMs: optional(int({ min: 0, max: 3_600_000 })),
});
export type LeafConfigFile = Infer<typeof leafConfigSchema>;
export type ProjectApproval = Omit<Infer<typeof project>, "until"> & { until?: number };

/** leaf.yaml with paths resolved and secrets read. Holds secrets: never log it. */
export interface LeafConfig {
  file: string;
  tre: string;
  name: string;
  host: string;
  /** TLS on the client port; absent only on loopback or with `insecure: true`. */
  tls?: ServerTlsFiles;
  ports: { client: number; monitor: number };
  natsServerCores: number;
  dataDir: string;
  treKey: SigningKey;
  /** The hub link, read and checked (hub-link-config.ts). */
  hub: HubLink;
  heartbeatIntervalMs: number;
  researchers: { name: string; publicKey: string }[];
  projects: ProjectApproval[];
  reviewers: { name: string; publicKey: string; password?: string }[];
  disclosure: DisclosureRules;
  review: ReviewPolicy;
  datasets: DatasetDefinition[];
  datasetKeepOpenMs: number;
  postgres?: {
    host: string;
    port: number;
    database: string;
    user: string;
    password: string;
    rolePrefix?: string;
  };
  /** Absent: this TRE runs no containers. */
  containers?: ContainerSettings;
  taskTimeoutMs: number;
  maxConcurrentTasks: number;
  maxTaskAttempts: number;
  retryBackoffMs: number;
  taskRetentionDays: number;
}

export async function loadLeafConfig(file: string): Promise<LeafConfig> {
  const loaded = await readYamlConfig(file);
  // Dataset files may be given relative to leaf.yaml; the dataset validator wants them absolute.
  const raw = loaded.value as { datasets?: unknown } | null;
  if (raw && Array.isArray(raw.datasets)) {
    for (const d of raw.datasets as { path?: unknown }[]) {
      if (d && typeof d === "object" && typeof d.path === "string" && d.path !== "")
        d.path = configPath(loaded, d.path);
    }
  }
  const c = validateConfig(loaded, leafConfigSchema);
  // Through the monitoring port the leaf watches its hub link: without it a link that never comes up goes unreported.
  refuseZeroPorts(file, c.ports, {
    client: "nats-server's default client port, 4222",
    monitor: "no monitoring port, and the leaf watches its hub link through it",
  });
  refuseKernelDir(file, "dataDir", configPath(loaded, c.dataDir));
  const datasetNames = new Set((c.datasets ?? []).map((d) => d.name));
  if ((c.datasets ?? []).some((d) => d.engine === "postgres") && !c.postgres) {
    throw new ConfigFileError(file, "postgres", "is required: a dataset has engine postgres");
  }
  // Each reviewer is one login on the leaf's server, beside the agent's own: a name taken is refused here, by its field.
  const reviewerAt = new Map<string, number>();
  (c.reviewers ?? []).forEach((r, i) => {
    if (r.name.startsWith("tremesh-"))
      throw new ConfigFileError(
        file,
        `reviewers[${i}].name`,
        `'${r.name}': names starting tremesh- are the leaf's own logins; choose another`,
      );
    const first = reviewerAt.get(r.name);
    if (first !== undefined)
      throw new ConfigFileError(
        file,
        `reviewers[${i}].name`,
        `'${r.name}' names reviewers[${first}] too; list each reviewer once`,
      );
    reviewerAt.set(r.name, i);
  });
  const researcherNames = new Set((c.researchers ?? []).map((r) => r.name));
  const projects: ProjectApproval[] = (c.projects ?? []).map((p, i) => {
    p.researchers.forEach((r, j) => {
      if (!researcherNames.has(r)) {
        throw new ConfigFileError(file, `projects[${i}].researchers[${j}]`, `${r} is not in \`researchers\``);
      }
    });
    let until: number | undefined;
    if (p.until !== undefined) {
      until = Date.parse(p.until);
      if (Number.isNaN(until))
        throw new ConfigFileError(file, `projects[${i}].until`, `${p.until} is not a date`);
    }
    p.datasets.forEach((d, j) => {
      if (!datasetNames.has(d))
        throw new ConfigFileError(file, `projects[${i}].datasets[${j}]`, `${d} is not in \`datasets\``);
    });
    if (p.images && !p.analyses.includes("container")) {
      throw new ConfigFileError(file, `projects[${i}].images`, "images need the `container` analysis");
    }
    if (p.analyses.includes("container") && !c.containers) {
      throw new ConfigFileError(
        file,
        `projects[${i}].analyses`,
        "container analyses need the `containers` section (the engine's socket and limits)",
      );
    }
    const { until: _until, ...rest } = p;
    return { ...rest, ...(until === undefined ? {} : { until }) };
  });
  const treKey = await readSigningKeyFile(loaded, "signingKeyFile", c.signingKeyFile);
  return {
    file,
    tre: c.tre,
    name: c.name ?? `leaf-${c.tre}`,
    host: c.host ?? LEAF_DEFAULTS.host,
    ...(await leafTls(loaded, c)),
    ports: { client: c.ports?.client ?? -1, monitor: c.ports?.monitor ?? -1 },
    natsServerCores: c.natsServerCores ?? LEAF_DEFAULTS.natsServerCores,
    dataDir: configPath(loaded, c.dataDir),
    treKey,
    hub: await loadHubLink(loaded, c.hub, c.tre),
    heartbeatIntervalMs: c.heartbeatIntervalMs ?? LEAF_DEFAULTS.heartbeatIntervalMs,
    researchers: c.researchers ?? [],
    projects,
    reviewers: await Promise.all(
      (c.reviewers ?? []).map(async (r, i) => ({
        name: r.name,
        publicKey: r.publicKey,
        ...(r.passwordFile
          ? { password: await readPasswordFile(loaded, `reviewers[${i}].passwordFile`, r.passwordFile) }
          : {}),
      })),
    ),
    disclosure: c.disclosure ?? DEFAULT_DISCLOSURE_RULES,
    review: {
      approvalsRequired: c.review?.approvalsRequired ?? LEAF_DEFAULTS.approvalsRequired,
      autoRelease: c.review?.autoRelease ?? false,
      ...(c.review?.notify ? { notify: c.review.notify } : {}),
    },
    datasets: c.datasets ?? [],
    ...(c.postgres
      ? {
          postgres: {
            host: c.postgres.host,
            port: c.postgres.port ?? LEAF_DEFAULTS.postgresPort,
            database: c.postgres.database,
            user: c.postgres.user,
            password: await readSecretFile(loaded, "postgres.passwordFile", c.postgres.passwordFile),
            ...(c.postgres.rolePrefix ? { rolePrefix: c.postgres.rolePrefix } : {}),
          },
        }
      : {}),
    ...(c.containers ? { containers: containerSettings(c.containers, loaded) } : {}),
    datasetKeepOpenMs: c.datasetKeepOpenMs ?? LEAF_DEFAULTS.datasetKeepOpenMs,
    taskTimeoutMs: c.taskTimeoutMs ?? LEAF_DEFAULTS.taskTimeoutMs,
    maxConcurrentTasks: c.maxConcurrentTasks ?? LEAF_DEFAULTS.maxConcurrentTasks,
    maxTaskAttempts: c.maxTaskAttempts ?? LEAF_DEFAULTS.maxTaskAttempts,
    retryBackoffMs: c.retryBackoffMs ?? LEAF_DEFAULTS.retryBackoffMs,
    taskRetentionDays: c.taskRetentionDays ?? LEAF_DEFAULTS.taskRetentionDays,
  };
}

/** The leaf's own client-port TLS, and the plaintext rule for a `host` off loopback. */
async function leafTls(loaded: LoadedYaml, c: LeafConfigFile): Promise<{ tls?: ServerTlsFiles }> {
  if (c.tls) return { tls: await readServerTls(loaded, c.tls, "tls.") };
  const host = c.host ?? LEAF_DEFAULTS.host;
  if (!isLoopbackHost(host) && c.insecure !== true)
    throw new ConfigFileError(
      loaded.file,
      "host",
      `${host} is not a loopback address, so reviewers' logins would cross the network in plaintext: give \`tls\` (certFile, keyFile, caFile), or, only on a network you trust completely, set \`insecure: true\``,
    );
  return {};
}
