/**
 * leaf.yaml's `containers` section: the Docker Engine API the container executor drives (Docker, or Podman's
 * `podman system service`) and the sandbox's limits, every one with a default.
 */
import { configPath } from "../common/index.js";
import { type ContainerLimits, DEFAULT_CONTAINER_LIMITS } from "../executors/index.js";
import { FieldError, type Infer, int, num, obj, optional, str } from "../protocol/index.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";

export const containersSchema = obj({
  /** The engine's unix socket. Default: DOCKER_HOST when it is unix://…, else /var/run/docker.sock. */
  socket: optional(str({ min: 1, max: 4096 })),
  /** "uid:gid" containers run as; never root. Default "65534:65534" (nobody). */
  user: optional(str({ min: 3, max: 23, pattern: /^[1-9]\d{0,9}:[1-9]\d{0,9}$/, what: "uid:gid, not root" })),
  /** Memory per container, MiB (no swap on top). Default 512. */
  memoryMb: optional(int({ min: 16, max: 1_048_576 })),
  /** CPUs per container (fractions allowed). Default 1. */
  cpus: optional((v, path) => {
    const cpus = num()(v, path);
    if (cpus < 0.01 || cpus > 1024) throw new FieldError(path, "must be from 0.01 to 1024 CPUs");
    return cpus;
  }),
  /** Processes and threads per container. Default 128. */
  pids: optional(int({ min: 8, max: 1_000_000 })),
  /** The /tmp scratch tmpfs, MiB. Default 64. */
  tmpfsMb: optional(int({ min: 1, max: 1_048_576 })),
  /** A container's own wall-clock limit, ms (the task's `taskTimeoutMs` applies too). Default 600 000. */
  timeoutMs: optional(int({ min: 1000, max: 86_400_000 })),
  /** What is collected from /outputs. Defaults: 32 files, 512 KiB in all (a Release must fit a NATS message). */
  outputs: optional(
    obj({
      maxFiles: optional(int({ min: 1, max: 256 })),
      maxBytes: optional(int({ min: 1, max: 768 * 1024 })),
    }),
  ),
});
export type ContainersFile = Infer<typeof containersSchema>;

/** leaf.yaml `containers` with defaults applied and the socket resolved. */
export interface ContainerSettings {
  socketPath: string;
  user: string;
  limits: ContainerLimits;
}

export function containerSettings(
  c: ContainersFile,
  loaded: Parameters<typeof configPath>[0],
): ContainerSettings {
  const fromEnv = process.env.DOCKER_HOST?.startsWith("unix://")
    ? process.env.DOCKER_HOST.slice(7)
    : undefined;
  const d = DEFAULT_CONTAINER_LIMITS;
  return {
    socketPath:
      c.socket !== undefined ? configPath(loaded, c.socket) : (fromEnv ?? LEAF_DEFAULTS.dockerSocket),
    user: c.user ?? LEAF_DEFAULTS.containerUser,
    limits: {
      memoryBytes: c.memoryMb !== undefined ? c.memoryMb * 1024 * 1024 : d.memoryBytes,
      nanoCpus: c.cpus !== undefined ? Math.round(c.cpus * 1e9) : d.nanoCpus,
      pids: c.pids ?? d.pids,
      tmpfsBytes: c.tmpfsMb !== undefined ? c.tmpfsMb * 1024 * 1024 : d.tmpfsBytes,
      timeoutMs: c.timeoutMs ?? d.timeoutMs,
      maxOutputFiles: c.outputs?.maxFiles ?? d.maxOutputFiles,
      maxOutputBytes: c.outputs?.maxBytes ?? d.maxOutputBytes,
      maxLogBytes: d.maxLogBytes,
    },
  };
}
