/**
 * Whether the Docker Engine API answers on a socket, and which of some pinned images it holds: what the leaf checks at
 * start, so that a wrong `containers.socket` or an allow-listed image the engine lacks is said then, not as each
 * container task's failure. Reads only: it never pulls, creates or removes anything.
 */
import Dockerode from "dockerode";
import { AnalysisRefused } from "../errors.js";
import { resolvePinnedImage } from "./pinned-image.js";

export type ContainerEngineCheck =
  | { reachable: false; problem: string }
  | { reachable: true; absent: string[] };

/** What a socket error means to the operator, by its code. */
const SOCKET_PROBLEMS: Record<string, string> = {
  ENOENT: "there is no socket there",
  ECONNREFUSED: "nothing answers on it (the engine is not running)",
  EACCES: "this user may not open it",
  EPERM: "this user may not open it",
  ENOTSOCK: "it is not a socket",
};

export async function checkContainerEngine(
  socketPath: string,
  images: readonly string[],
  { timeoutMs = 5_000 }: { timeoutMs?: number } = {},
): Promise<ContainerEngineCheck> {
  const docker = new Dockerode({ socketPath, timeout: timeoutMs });
  try {
    await docker.ping();
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    const known = typeof code === "string" ? SOCKET_PROBLEMS[code] : undefined;
    const problem = known
      ? `${known} (${code})`
      : code === "ETIMEDOUT" || /timeout/i.test(String((e as Error).message))
        ? `the engine did not answer within ${timeoutMs} ms`
        : `the engine did not answer as a Docker Engine API (${typeof code === "string" ? code : (e as Error).message})`;
    return { reachable: false, problem };
  }
  const absent: string[] = [];
  for (const ref of images) {
    try {
      await resolvePinnedImage(docker, ref);
    } catch (e) {
      if (e instanceof AnalysisRefused) absent.push(ref);
      else throw e;
    }
  }
  return { reachable: true, absent };
}
