/**
 * The tests' Docker-compatible engine: Podman's service (fixtures/podman-service.ts) with the
 * project's containers.conf from scripts/setup-podman.mjs.
 */
import { join, resolve } from "node:path";
import type { DockerApi } from "../../fixtures/index.js";
import { startDockerApi as startService } from "../../fixtures/index.js";

export { type BuiltImage, buildBusyboxImage, type DockerApi } from "../../fixtures/index.js";

/** The project's containers.conf (runtime runc, lowered ulimits), written by `npm run setup`. */
export const CONTAINERS_CONF = join(
  resolve(import.meta.dirname, "..", ".."),
  ".tools",
  "podman",
  "containers.conf",
);

export function startDockerApi(dir: string): Promise<DockerApi> {
  return startService(dir, CONTAINERS_CONF);
}
