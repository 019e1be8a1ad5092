/**
 * The demo's container engine: one `podman system service` for the whole demo federation, its socket and
 * image store in the demo's folder, run in a process group of its own so it is stopped by PID like the hub
 * and the TREs (and survives `--keep`), and the demo's image built in it (busybox and the summary script,
 * no registry). Where Podman cannot run, the demo goes on without its container analysis and says why.
 */
import { existsSync } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import { join } from "node:path";
import { buildBusyboxImage, type DockerApi, MEAN_SCRIPT, startDockerApi } from "../fixtures/index.js";
import { DEMO_ENGINE_DIR, type DemoContainers, type DemoFederation, packageRoot } from "./demo-federation.js";

/** The demo image's repository; TREs allow-list it by digest, as any image. */
const DEMO_IMAGE = "tremesh/demo-stats";
/** Where the summary script is in the demo image. */
export const DEMO_IMAGE_SCRIPT = "/app/summary.sh";

export type DemoContainerStart = { ok: true; containers: DemoContainers } | { ok: false; reason: string };

/**
 * Starts the engine under `dir/podman`, recording it in `fed.pids` and pids.json the moment it answers (so
 * a Ctrl-C or a failure later still stops it), and builds the demo image; or, where that cannot be done
 * here (no Podman, not root, setup not run), says why in one sentence and leaves nothing running.
 */
export async function startDemoContainerEngine(
  fed: Pick<DemoFederation, "dir" | "pids">,
): Promise<DemoContainerStart> {
  const containersConf = join(packageRoot(), ".tools", "podman", "containers.conf");
  const uid = process.getuid?.();
  if (uid !== 0) return { ok: false, reason: `the demo runs Podman as root only, and this is uid ${uid}` };
  if (!existsSync(containersConf))
    return { ok: false, reason: `${containersConf} is missing (npm run setup writes it)` };
  if (!existsSync("/bin/busybox"))
    return { ok: false, reason: "no static busybox at /bin/busybox to build the demo image from" };
  const engineDir = join(fed.dir, DEMO_ENGINE_DIR);
  await mkdir(join(fed.dir, "logs"), { recursive: true, mode: 0o700 });
  // Podman's store, as rootful Podman keeps /var/lib/containers/storage: behind an owner-only folder.
  await mkdir(engineDir, { recursive: true, mode: 0o700 });
  // Podman's log, made owner-only before Podman appends to it.
  await (await open(join(fed.dir, "logs", "podman.log"), "a", 0o600)).close();
  let api: DockerApi;
  try {
    api = await startDockerApi(engineDir, containersConf, {
      logFile: join(fed.dir, "logs", "podman.log"),
      env: fed.pids.env(),
    });
  } catch (e) {
    const missing = (e as { cause?: { code?: string } }).cause?.code === "ENOENT";
    return {
      ok: false,
      reason: missing ? "podman is not installed" : `Podman did not start: ${firstLine(e)}`,
    };
  }
  await fed.pids.add("podman", api.pid);
  try {
    const built = await buildBusyboxImage(api, engineDir, DEMO_IMAGE, { [DEMO_IMAGE_SCRIPT]: MEAN_SCRIPT });
    return { ok: true, containers: { socketPath: api.socketPath, image: built.ref } };
  } catch (e) {
    await api.stop();
    // A stopped process's PID may be reused: it must not stay where `demo stop` would signal it.
    await fed.pids.remove(api.pid);
    return { ok: false, reason: `the demo image did not build: ${firstLine(e)}` };
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().split("\n")[0] ?? "";
}
