/**
 * Container analyses end to end on a real federation (hub and two leaves from their YAML, agents, the
 * CLI) with a real Docker-compatible engine: a GA4GH TES task submitted with `tremesh submit --tes`
 * runs in each TRE's sandbox, its outputs wait in the airlock, reviewers release them, and the
 * researcher's aggregate pools the statistic and saves the released files. An image not on a TRE's
 * allow-list never starts; a cancel stops the container; an agent start removes orphaned containers.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { treContainers } from "../executors/container/container-executor.js";
import { LABEL_TRE } from "../executors/container/sandbox.js";
import {
  generatePatients,
  MEAN_SCRIPT,
  type PatientRow,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
} from "../fixtures/index.js";
import {
  approveProject,
  childReaches,
  type Federation,
  releaseOf,
  startFederation,
} from "./harness/federation.js";
import { type BuiltImage, buildBusyboxImage, type DockerApi, startDockerApi } from "./harness/podman.js";
import { uniqueToken } from "./harness/unique.js";

const rows: Record<string, PatientRow[]> = {
  a: generatePatients(patientProfiles.north, 21).slice(0, 600),
  b: generatePatients(patientProfiles.south, 22).slice(0, 900),
};

let dir: string;
let api: DockerApi;
let image: BuiltImage;
let unlisted: BuiltImage;
let fed: Federation;
let fileStart = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tremesh-cfed-"));
  fileStart = Math.floor(Date.now() / 1000) - 1;
  api = await startDockerApi(join(dir, "podman"));
  image = await buildBusyboxImage(api, dir, "tremesh/stats", { "/app/mean.sh": MEAN_SCRIPT });
  unlisted = await buildBusyboxImage(api, dir, "tremesh/unlisted", {
    "/app/mean.sh": MEAN_SCRIPT,
    "/app/note.txt": "not on any allow-list\n",
  });
  for (const tre of ["a", "b"]) await writePatientsCsv(rows[tre]!, join(dir, `patients-${tre}.csv`));
  fed = await startFederation({
    tres: ["a", "b"],
    leafExtra: (tre) => ({
      datasets: [
        {
          name: "patients",
          engine: "csv",
          path: join(dir, `patients-${tre}.csv`),
          columns: { ...SYNTHETIC_PATIENT_COLUMNS },
          identifiers: ["patient_id"],
        },
      ],
      projects: [
        {
          name: "cardio",
          researchers: ["alice"],
          analyses: ["container"],
          datasets: ["patients"],
          images: [image.ref],
        },
      ],
      containers: { socket: api.socketPath, memoryMb: 64, timeoutMs: 60_000 },
    }),
  });
  await approveProject(fed, { project: "cardio", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await api?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function tesFile(task: Record<string, unknown>): Promise<string> {
  const file = join(fed.files.dir, `tes-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(task));
  return file;
}

function tesTask(imageRef: string, command: string[], env: Record<string, string> = {}) {
  return {
    name: "mean BMI",
    inputs: [{ url: "tremesh:dataset/patients", path: "/data/patients.csv", type: "FILE" }],
    outputs: [{ path: "/outputs", type: "DIRECTORY" }],
    executors: [{ image: imageRef, command, env }],
    tags: { Project: "cardio", tres: "a|b" },
  };
}

async function taskContainers(tre: string): Promise<number> {
  return (await treContainers(api.docker, tre)).length;
}

function pooled(column: "bmi") {
  const values = [...rows.a!, ...rows.b!].map((r) => r[column]).filter((v): v is number => v !== null);
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return { n: values.length, mean };
}

describe("container analyses across a federation", () => {
  it("runs a TES task at both TREs; reviewers release it; the researcher pools the statistic and saves the files", async () => {
    const file = await tesFile(tesTask(image.ref, ["/app/mean.sh"], { COLUMN: "bmi" }));
    const submitted = await fed.cli(["submit", "--tes", file], "alice");
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const taskId = submitted.out[0]!;
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    await childReaches(fed, taskId, "b", "outputs_pending_review");

    // The reviewer at a reads the file in place, and approves everything.
    const shown = await fed.cli(["airlock", "show", taskId], "reviewer-a-rita");
    expect(shown.code).toBe(0);
    const text = shown.out.join("\n");
    expect(text).toContain("columns.txt");
    expect(text).toContain("| age,sex,region,bmi,systolic_bp,cholesterol,smoker,diabetes");
    expect(text).not.toContain("patient_id");
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-a-rita")).code).toBe(0);

    // The reviewer at b releases the statistic and keeps the file.
    const listed = JSON.parse(
      (await fed.cli(["airlock", "show", taskId, "--json"], "reviewer-b-rita")).out.join(""),
    );
    const ids = new Map<string, string>(
      listed.outputs.map((o: { name: string; outputId: string }) => [o.name, o.outputId]),
    );
    expect([...ids.keys()].sort()).toEqual(["bmi-summary.json", "columns.txt"]);
    // --json carries the held file's content, as the text view prints it: a tool can show what is approved.
    const held = listed.outputs.find((o: { name: string }) => o.name === "columns.txt");
    expect(held.file.text).toContain("age,sex,region,bmi,systolic_bp,cholesterol,smoker,diabetes");
    expect(Buffer.from(held.file.contentBase64, "base64").toString("utf8")).toBe(held.file.text);
    const approve = await fed.cli(
      ["airlock", "approve", taskId, "--outputs", ids.get("bmi-summary.json")!],
      "reviewer-b-rita",
    );
    expect(approve.code, approve.err.join("\n")).toBe(0);
    const reject = await fed.cli(
      ["airlock", "reject", taskId, "--outputs", ids.get("columns.txt")!, "--reason", "not needed"],
      "reviewer-b-rita",
    );
    expect(reject.code, reject.err.join("\n")).toBe(0);
    await childReaches(fed, taskId, "a", "released");
    await childReaches(fed, taskId, "b", "partially_released");

    const saveDir = join(dir, `saved-${uniqueToken()}`);
    const aggregated = await fed.cli(["aggregate", taskId, "--json", "--save-files", saveDir], "alice");
    expect(aggregated.code, aggregated.err.join("\n")).toBe(0);
    const result = JSON.parse(aggregated.out.join("\n"));
    const truth = pooled("bmi");
    expect(result.outputs.map((o: { name: string }) => o.name)).toEqual(["bmi-summary.json"]);
    const combined = result.outputs[0].result.cells[0].combined;
    expect(combined.n).toEqual({ low: truth.n, high: truth.n });
    expect(combined.mean).toBeCloseTo(truth.mean, 9);
    expect(result.withheld).toEqual([
      expect.objectContaining({ tre: "b", name: "withheld-output-1", reason: "rita: not needed" }),
    ]);
    expect(result.files.map((f: { tre: string; name: string }) => `${f.tre}/${f.name}`)).toEqual([
      "a/columns.txt",
    ]);
    expect(await readdir(saveDir)).toEqual(["a"]);
    expect(await readFile(join(saveDir, "a", "columns.txt"), "utf8")).toBe(
      "age,sex,region,bmi,systolic_bp,cholesterol,smoker,diabetes\n",
    );

    // What TRE b withheld left under a neutral name (a container chose the real one), and without its digest.
    const release = await releaseOf(fed, taskId, "b");
    expect(release.withheld.map((w) => w.name)).toEqual(["withheld-output-1"]);
    expect(release.decisions).toHaveLength(1);
    expect(Buffer.from(JSON.stringify(release)).includes("columns.txt")).toBe(false);
    // So does the reviewer's message in the TRE's status, which the researcher reads in `tremesh status`.
    const status = (await fed.cli(["status", taskId], "alice")).out.join("\n");
    expect(status).toContain("1 withheld after review: withheld-output-1 — rita: not needed");
    expect(status).not.toContain("columns.txt");
    expect(await taskContainers("a")).toBe(0);
    expect(await taskContainers("b")).toBe(0);
  }, 120_000);

  it("never starts an image a TRE has not allow-listed", async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const file = await tesFile(tesTask(unlisted.ref, ["/app/mean.sh"]));
    const submitted = await fed.cli(["submit", "--tes", file], "alice");
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const taskId = submitted.out[0]!;
    const a = await childReaches(fed, taskId, "a", "rejected");
    expect(a.history.at(-1)?.reason).toMatch(/does not allow image tremesh\/unlisted@sha256:/);
    await childReaches(fed, taskId, "b", "rejected");
    const events = await containerEvents(since);
    expect(unlisted.id).not.toBe(image.id);
    // The event log does record containers: the allow-listed image's runs in the first test are there.
    const all = await containerEvents(fileStart);
    expect(all.some((e) => e.includes('"create"') && e.includes("tremesh/stats"))).toBe(true);
    expect(events.filter((e) => e.includes(unlisted.id.slice(7)) || e.includes("tremesh/unlisted"))).toEqual(
      [],
    );
  }, 60_000);

  it("a cancel stops and removes the running container", async () => {
    const file = await tesFile(tesTask(image.ref, ["sleep", "120"]));
    const taskId = (await fed.cli(["submit", "--tes", file], "alice")).out[0]!;
    await childReaches(fed, taskId, "a", "running");
    await waitFor("a's container", async () => (await taskContainers("a")) > 0, { timeoutMs: 20_000 });
    expect((await fed.cli(["cancel", taskId, "--reason", "wrong column"], "alice")).code).toBe(0);
    await childReaches(fed, taskId, "a", "cancelled");
    await childReaches(fed, taskId, "b", "cancelled");
    await waitFor("a's container to go", async () => (await taskContainers("a")) === 0, {
      timeoutMs: 20_000,
    });
    expect(await taskContainers("b")).toBe(0);
  }, 90_000);

  it("an agent's start removes containers an earlier run of it left behind", async () => {
    await fed.stopLeaf("a");
    const orphan = await api.docker.createContainer({
      Image: image.id,
      Cmd: ["sleep", "300"],
      Labels: { [LABEL_TRE]: "a" },
    });
    await orphan.start();
    expect(await taskContainers("a")).toBe(1);
    await fed.startLeaf("a");
    expect(await taskContainers("a")).toBe(0);
  }, 60_000);
});

/** Container events since `since` (unix seconds), one JSON line each, from the engine's own event log. */
async function containerEvents(since: number): Promise<string[]> {
  const stream = (await api.docker.getEvents({
    since,
    until: Math.floor(Date.now() / 1000) + 1,
    filters: JSON.stringify({ type: ["container"] }),
  })) as NodeJS.ReadableStream;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .filter((l) => l.trim() !== "");
}
