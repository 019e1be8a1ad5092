/**
 * A TRE operator's container mistakes, said when the leaf starts: leaf.yaml `containers.socket` naming no socket or a
 * dead one, and a project allowing an image the engine does not hold (a wrong digest). Before this, a missing socket
 * stopped `tremesh leaf start` with "a file: no such file or folder (ENOENT)", naming neither the field nor the path,
 * and an allow-listed image that was not there was first heard of as a researcher's `executor_error`. A task that names
 * such an image is said again in the running leaf's log (`tremesh leaf start`, its own process from the built CLI: `npm
 * run build` first), where before only its state line was.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import { containerStartWarnings } from "../leaf/index.js";
import type { LeafConfig } from "../leaf/leaf-config.js";
import { approveProject, childReaches, type Federation, startFederation } from "./harness/federation.js";
import { startLeafProcesses } from "./harness/leaf-processes.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { type BuiltImage, buildBusyboxImage, type DockerApi, startDockerApi } from "./harness/podman.js";

let dir: string;
let api: DockerApi;
let image: BuiltImage;
let fed: Federation | undefined;
let running: Federation | undefined;
const WRONG = `tremesh/start-check@sha256:${"a".repeat(64)}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tremesh-container-start-"));
  api = await startDockerApi(join(dir, "podman"));
  image = await buildBusyboxImage(api, dir, "tremesh/start-check");
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await running?.[Symbol.asyncDispose]();
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

  it("warns in the running leaf's log, naming the task, the image and its projects[i].images[j], when a task names an allow-listed image the engine lacks", async () => {
    running = await startFederation({
      tres: ["a"],
      researchers: ["alice"],
      startLeaves: [],
      leafExtra: (tre) => ({
        ...exactPatientsLeaf(tre, { project: "cardio" }),
        projects: [
          {
            name: "cardio",
            researchers: ["alice"],
            analyses: ["container"],
            datasets: ["patients"],
            images: [image.ref, WRONG],
          },
        ],
        containers: { socket: api.socketPath },
      }),
    });
    await writePatientsCsv(
      generatePatients(patientProfiles.small, 8),
      join(running.files.dir, "patients-a.csv"),
    );
    await approveProject(running, { project: "cardio", tres: ["a"], members: ["alice"] });
    await using _leaves = await startLeafProcesses(running, ["a"]);

    const tes = join(running.files.dir, "missing-image.tes.json");
    await writeFile(
      tes,
      JSON.stringify({
        name: "mean BMI",
        inputs: [{ url: "tremesh:dataset/patients", path: "/data/patients.csv", type: "FILE" }],
        outputs: [{ path: "/outputs", type: "DIRECTORY" }],
        executors: [{ image: WRONG, command: ["/app/mean.sh"] }],
        tags: { Project: "cardio", tres: "a" },
      }),
    );
    const submitted = await running.cli(["submit", "--tes", tes], "alice");
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const taskId = submitted.out[0]!;
    const a = await childReaches(running, taskId, "a", "executor_error");
    expect(a.history.at(-1)?.reason).toMatch(/^image: is not present in this TRE/);

    type Line = { level: number; msg: string; taskId?: string; image?: string; project?: string };
    const warning = await waitFor("the leaf's warning", async () => {
      const lines = (await readFile(join(running!.files.dir, "logs", "leaf-a.log"), "utf8")).split("\n");
      return lines
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as Line)
        .find((l) => l.level === 40 && l.taskId === taskId);
    });
    expect(warning).toMatchObject({ image: WRONG, project: "cardio" });
    expect(warning.msg).toBe(
      `task ${taskId} failed (executor_error): its image ${WRONG} is not in the container engine at ` +
        `${api.socketPath} (images are never pulled), though ${running.files.leafConfigs.a}: projects[0].images[1] ` +
        "allows it for project cardio; load the image into the engine, or allow the digest it has there " +
        "(`podman image inspect --format '{{.Id}}' IMAGE`, or one of its RepoDigests), and ask the researcher to " +
        "submit the task again",
    );
  }, 120_000);
});
