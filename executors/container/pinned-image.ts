/**
 * Finding the local image a pinned reference names, exactly: either its content id (an image built in the TRE) or
 * one of its registry digests (an image pulled into the TRE). Never pulls. The container executor resolves each
 * task's image with it, and the leaf each allow-listed image at start, so both agree on what "present" means.
 */
import type Dockerode from "dockerode";
import { AnalysisRefused, ExecutorFailed, ImageNotPresent } from "../errors.js";

const HEX_DIGEST = /@sha256:([0-9a-f]{64})$/;

/** The local image's id when it is exactly the pinned digest; ImageNotPresent (an AnalysisRefused) when absent, ExecutorFailed (retryable) when the engine cannot be asked. */
export async function resolvePinnedImage(docker: Dockerode, ref: string): Promise<string> {
  const digest = HEX_DIGEST.exec(ref)?.[1];
  if (digest === undefined) throw new AnalysisRefused("image", "is not pinned by digest");
  const name = ref.slice(0, ref.indexOf("@"));
  for (const candidate of [`sha256:${digest}`, ref]) {
    let info: Dockerode.ImageInspectInfo;
    try {
      info = await docker.getImage(candidate).inspect();
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) continue;
      throw new ExecutorFailed("the container engine could not be reached", { retryable: true, cause: e });
    }
    const id = info.Id.startsWith("sha256:") ? info.Id : `sha256:${info.Id}`;
    const repoDigests = info.RepoDigests ?? [];
    if (
      id === `sha256:${digest}` ||
      repoDigests.some((d) => d === ref || d.endsWith(`${name}@sha256:${digest}`))
    )
      return id;
  }
  throw new ImageNotPresent(ref);
}
