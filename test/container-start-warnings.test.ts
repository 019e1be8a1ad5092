/**
 * A TRE operator's container mistakes, said when the leaf starts: leaf.yaml `containers.socket` naming no socket or a
 * dead one, and a project allowing an image the engine does not hold (a wrong digest). Before this, a missing socket
 * stopped `tremesh leaf start` with "a file: no such file or folder (ENOENT)", naming neither the field nor the path,
 * and an allow-listed image that was not there was first heard of as a researcher's `executor_error`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerStartWarnings } from "../leaf/index.js";
import type { LeafConfig } from "../leaf/leaf-config.js";
import { type Federation, startFederation } from "./harness/federation.js";
import { type BuiltImage, buildBusyboxImage, type DockerApi, startDockerApi } from "./harness/podman.js";

let dir: string;
let api: DockerApi;
let image: BuiltImage;
let fed: Federation | undefined;
const WRONG = `tremesh/start-check@sha256:${"a".repeat(64)}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tremesh-container-start-"));
  api = await startDockerApi(join(dir, "podman"));
  image = await buildBusyboxImage(api, dir, "tremesh/start-check");
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function config(socketPath: string, images: string[]): Pick<LeafConfig, "file" | "containers" | "projects"> {
  return {
    file: "leaf.yaml",
    containers: { socketPath, user: "65534:65534", limits: {} as never },
    projects: [
      { name: "diabetes", researchers: ["alice"], analyses: ["count"], datasets: ["patients"] },
      { name: "cardio", researchers: ["alice"], analyses: ["container"], datasets: ["patients"], images },
    ],
  };
}

describe("the leaf's container checks at start", () => {
  it("names containers.socket and what to do when there is no socket, or nothing answers on it", async () => {
    const missing = join(dir, "no-such.sock");
    expect(await containerStartWarnings(config(missing, [image.ref]))).toEqual([
      expect.stringMatching(
        new RegExp(
          `^leaf\\.yaml: containers\\.socket: ${missing}: there is no socket there \\(ENOENT\\): every container task fails .*start it .*or correct containers\\.socket$`,
        ),
      ),
    ]);
    // A socket file its engine left behind when it stopped.
    const stale = join(dir, "stale.sock");
    const server = createServer();
    await new Promise<void>((done) => server.listen(stale, done));
    await new Promise<void>((done) => server.close(() => done()));
    server.unref();
    const said = await containerStartWarnings(config(stale, [image.ref]));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(
      /containers\.socket: .*stale\.sock: (nothing answers on it|there is no socket there)/,
    );
  });

  it("names each allow-listed image the engine lacks, by its projects[i].images[j], and none that it holds", async () => {
    expect(await containerStartWarnings(config(api.socketPath, [image.ref, WRONG]))).toEqual([
      `leaf.yaml: projects[1].images[1]: ${WRONG} is not in the container engine at ${api.socketPath} (images are ` +
        "never pulled): every task that names it fails; load the image into the engine, or allow the digest it has " +
        "there (`podman image inspect --format '{{.Id}}' IMAGE`, or one of its RepoDigests)",
    ]);
    expect(await containerStartWarnings(config(api.socketPath, [image.ref]))).toEqual([]);
  });

  it("lets a leaf whose container engine is away start, with its agent", async () => {
    fed = await startFederation({
      tres: ["a"],
      researchers: ["alice"],
      leafExtra: () => ({ containers: { socket: join(dir, "no-such.sock") } }),
    });
    // startFederation resolves once the leaf (its agent too) has started; before, the agent's start threw ENOENT.
    expect(fed.leaves.get("a")?.agent).toBeDefined();
  }, 120_000);
});
