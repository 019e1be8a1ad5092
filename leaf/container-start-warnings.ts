/**
 * What a TRE operator should hear at start when leaf.yaml's container engine does not answer (`containers.socket`), or
 * lacks an image a project allows (`projects[i].images`): without it the leaf reports ready and each container task
 * fails, the engine's part with a reason that names no field. Warnings, not errors, like the dataset checks: the TRE's
 * query datasets work, and an engine may start, or an image be loaded, after the leaf. An image still missing when a
 * task names it is said again, as that task ends (`missingImageWarning`).
 */
import { checkContainerEngine } from "../executors/index.js";
import type { LeafConfig } from "./leaf-config.js";

export async function containerStartWarnings(
  config: Pick<LeafConfig, "file" | "containers" | "projects">,
): Promise<string[]> {
  if (!config.containers) return [];
  const socket = config.containers.socketPath;
  const allowed = config.projects.flatMap((p, i) =>
    (p.images ?? []).map((ref, j) => ({ ref, field: `projects[${i}].images[${j}]` })),
  );
  const check = await checkContainerEngine(
    socket,
    allowed.map((a) => a.ref),
  );
  if (!check.reachable)
    return [
      `${config.file}: containers.socket: ${socket}: ${check.problem}: every container task fails ("the container ` +
        'engine could not be reached") until a Docker Engine API answers there; start it (Podman: `podman system ' +
        "service`, or `systemctl start podman.socket`; Docker: `systemctl start docker`), or correct containers.socket",
    ];
  return allowed
    .filter((a) => check.absent.includes(a.ref))
    .map(
      (a) =>
        `${config.file}: ${a.field}: ${a.ref} is not in the container engine at ${socket} (images are never pulled): ` +
        `every task that names it fails; ${LOAD_OR_ALLOW}`,
    );
}

/** What the operator does about an allow-listed image the engine lacks. */
const LOAD_OR_ALLOW =
  "load the image into the engine, or allow the digest it has there " +
  "(`podman image inspect --format '{{.Id}}' IMAGE`, or one of its RepoDigests)";

/**
 * The leaf's warning when a container task ended in `executor_error` because its image, allowed for its project, is
 * not in the engine: the researcher reads only "image: is not present in this TRE…", and the mending is the operator's.
 */
export function missingImageWarning(
  config: Pick<LeafConfig, "file" | "containers" | "projects">,
  e: { taskId: string; project: string; image: string },
): string {
  const i = config.projects.findIndex((p) => p.name === e.project);
  const j = config.projects[i]?.images?.indexOf(e.image) ?? -1;
  const field = j >= 0 ? `projects[${i}].images[${j}]` : `project ${e.project}'s images`;
  return (
    `task ${e.taskId} failed (executor_error): its image ${e.image} is not in the container engine at ` +
    `${config.containers?.socketPath} (images are never pulled), though ${config.file}: ${field} allows it for project ` +
    `${e.project}; ${LOAD_OR_ALLOW}, and ask the researcher to submit the task again`
  );
}
