/**
 * What a TRE operator should hear at start when leaf.yaml's container engine does not answer (`containers.socket`), or
 * lacks an image a project allows (`projects[i].images`): without it the leaf reports ready and each container task
 * fails, the engine's part with a reason that names no field. Warnings, not errors, like the dataset checks: the TRE's
 * query datasets work, and an engine may start, or an image be loaded, after the leaf.
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
        "every task that names it fails; load the image into the engine, or allow the digest it has there " +
        "(`podman image inspect --format '{{.Id}}' IMAGE`, or one of its RepoDigests)",
    );
}
