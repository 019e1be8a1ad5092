/**
 * The sealed box a researcher's container runs in, as a Docker Engine API create request. Everything
 * a container could use to reach out or to keep something is taken away, and what is left is spelled
 * out here in one place:
 *
 * - no network at all (`NetworkMode: none`: only its own loopback), so nothing can leave but files;
 * - a read-only root filesystem, with `/tmp` as a small tmpfs for scratch (noexec, nosuid);
 * - the task's datasets at `/data` (read-only) and one writable directory, `/outputs`, the only place
 *   anything it makes is collected from;
 * - every capability dropped, no-new-privileges, a non-root user;
 * - memory (with no extra swap), CPU and process-count limits, and ulimits of its own.
 *
 * The wall-clock limit is kept by the executor, which kills the container when it runs out.
 */
import type Dockerode from "dockerode";

/** Where a container finds its inputs and leaves its outputs. */
export const CONTAINER_DATA_DIR = "/data";
export const CONTAINER_OUTPUT_DIR = "/outputs";

/** The labels that mark a container as one of this TRE's task containers, for finding orphans. */
export const LABEL_TRE = "org.tremesh.tre";
const LABEL_TASK = "org.tremesh.task";

export interface SandboxLimits {
  /** Memory limit, bytes; swap is not added on top. */
  memoryBytes: number;
  /** CPU share in billionths of a CPU (1e9 = one core). */
  nanoCpus: number;
  /** Most processes and threads at once. */
  pids: number;
  /** Size of the /tmp scratch tmpfs, bytes. */
  tmpfsBytes: number;
}

export interface SandboxRequest {
  tre: string;
  taskId: string;
  /** The image's full id, `sha256:<64 hex>`, resolved and checked against the pinned digest. */
  imageId: string;
  command: readonly string[];
  env: Readonly<Record<string, string>>;
  /** Host directory with the task's dataset extracts, mounted read-only at /data. */
  dataDir: string;
  /** Host directory mounted writable at /outputs. */
  outputDir: string;
  /** "uid:gid" the command runs as; never root. */
  user: string;
  limits: SandboxLimits;
}

/** The container's name: one per TRE and task, so a second create for the same task fails. */
export function containerName(tre: string, taskId: string): string {
  return `tremesh-${tre}-${taskId.toLowerCase()}`;
}

/** The create request for one task's container. Pure: the tests read it field by field. */
export function sandboxOptions(r: SandboxRequest): Dockerode.ContainerCreateOptions {
  if (/^0*:|^root\b|^0+$/.test(r.user)) throw new Error(`containers never run as root (user ${r.user})`);
  // A bind is "source:target:options": a colon or comma in a host path would change its meaning.
  for (const dir of [r.dataDir, r.outputDir])
    if (/[:,]/.test(dir)) throw new Error(`a container's host directory may not hold ':' or ',' (${dir})`);
  const env = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  return {
    name: containerName(r.tre, r.taskId),
    Image: r.imageId,
    Cmd: [...r.command],
    Env: env,
    User: r.user,
    WorkingDir: "/tmp",
    Labels: { [LABEL_TRE]: r.tre, [LABEL_TASK]: r.taskId },
    NetworkDisabled: true,
    AttachStdin: false,
    OpenStdin: false,
    Tty: false,
    HostConfig: {
      NetworkMode: "none",
      ReadonlyRootfs: true,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges"],
      Privileged: false,
      Memory: r.limits.memoryBytes,
      MemorySwap: r.limits.memoryBytes,
      NanoCpus: r.limits.nanoCpus,
      PidsLimit: r.limits.pids,
      Ulimits: [
        { Name: "nofile", Soft: 1024, Hard: 1024 },
        { Name: "nproc", Soft: 1024, Hard: 1024 },
      ],
      Tmpfs: { "/tmp": `rw,noexec,nosuid,nodev,size=${r.limits.tmpfsBytes}` },
      Binds: [`${r.dataDir}:${CONTAINER_DATA_DIR}:ro`, `${r.outputDir}:${CONTAINER_OUTPUT_DIR}:rw`],
      IpcMode: "private",
      AutoRemove: false,
      RestartPolicy: { Name: "no" },
    },
  };
}
