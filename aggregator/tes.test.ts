import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generateKeyPair, openEnvelope, signingKeyFromSeed, TrustStore } from "../protocol/index.js";
import { signSubmission } from "./submit.js";
import { TesImportError, type TesImportOptions, tesTaskToSubmission } from "./tes.js";

const DIGEST = "ab".repeat(32);
const IMAGE = `registry.tre/stats@sha256:${DIGEST}`;

/** A minimal task tremesh accepts; each test changes one thing. */
function task(changes: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "Mean age",
    executors: [{ image: IMAGE, command: ["mean", "age"] }],
    tags: { Project: "diabetes", tres: "north|south" },
    ...changes,
  };
}

function executor(changes: Record<string, unknown>): Record<string, unknown> {
  return { executors: [{ image: IMAGE, command: ["mean", "age"], ...changes }] };
}

/** The field and message of the refusal, or a failure if the task was accepted. */
function refusal(json: unknown, options?: TesImportOptions): { field: string; message: string } {
  try {
    tesTaskToSubmission(json, options);
  } catch (e) {
    if (e instanceof TesImportError) return { field: e.field, message: e.message };
    throw e;
  }
  throw new Error("the task was accepted");
}

describe("TES task import", () => {
  it("converts a full TES task into a container submission the protocol accepts", () => {
    const tes = {
      id: "task-123",
      state: "COMPLETE",
      creation_time: "2026-01-01T00:00:00Z",
      logs: [{ start_time: "2026-01-01T00:00:01Z" }],
      name: "  Mean age of patients  ",
      description: "server-set and descriptive fields are ignored",
      inputs: [
        { name: "p", url: "tremesh:dataset/patients", path: "/data/patients.csv", type: "FILE" },
        { url: "tremesh:dataset/visits" },
      ],
      outputs: [
        { name: "mean", path: "/outputs/mean.json", type: "FILE" },
        { path: "/outputs", type: "DIRECTORY" },
      ],
      executors: [{ image: IMAGE, command: ["mean", "--column", "age"], env: { COLUMN: "age", _X1: "" } }],
      volumes: [],
      resources: {},
      tags: { Project: "diabetes", tres: "north, south|east", datasets: "visits|labs", other: "kept out" },
    };
    const result = tesTaskToSubmission(tes);
    expect(result).toEqual({
      project: "diabetes",
      tres: ["north", "south", "east"],
      title: "Mean age of patients",
      analysis: {
        kind: "container",
        image: IMAGE,
        command: ["mean", "--column", "age"],
        env: { COLUMN: "age", _X1: "" },
        datasets: ["patients", "visits", "labs"],
      },
      warnings: [],
    });

    // Signing runs the protocol's own Submission validation, and the hub's open checks it again.
    const researcher = signingKeyFromSeed(generateKeyPair("user").seed);
    const trust = new TrustStore().add({ publicKey: researcher.publicKey, role: "researcher", name: "r" });
    const { warnings: _warnings, ...submission } = result;
    const opened = openEnvelope(signSubmission(researcher, submission), { trust, expect: "submission" });
    expect(opened.ok && opened.value.type === "submission" && opened.value.body.analysis).toEqual(
      result.analysis,
    );
  });

  it("accepts the documented example task as it stands", () => {
    const example = JSON.parse(
      readFileSync(new URL("../docs/examples/tes-task.json", import.meta.url), "utf8"),
    );
    const result = tesTaskToSubmission(example);
    expect(result.project).toBe("diabetes");
    expect(result.tres).toEqual(["north", "south"]);
    expect(result.analysis.datasets).toEqual(["patients"]);
    expect(result.warnings).toEqual([]);
  });

  it("refuses anything but a JSON object", () => {
    for (const json of [null, [], "task", 3]) {
      expect(refusal(json)).toMatchObject({
        field: "task",
        message: expect.stringMatching(/^task: expected a JSON object/),
      });
    }
  });

  describe("project and TREs", () => {
    it("reads tags.project and comma-separated tags.tres too", () => {
      const result = tesTaskToSubmission(task({ tags: { project: "p_1", tres: "a,b,a" } }));
      expect([result.project, result.tres]).toEqual(["p_1", ["a", "b"]]);
    });

    it("lets the caller's project and TREs override the tags, and says so", () => {
      const result = tesTaskToSubmission(task({ tags: { Project: "Not-Valid", tres: "north" } }), {
        project: "cardio",
        tres: ["west"],
      });
      expect([result.project, result.tres]).toEqual(["cardio", ["west"]]);
      expect(result.warnings).toEqual([
        'tags.Project: "Not-Valid" replaced by the project given separately, "cardio"',
        "tags.tres: replaced by the TREs given separately, west",
      ]);
    });

    it("needs a project and TREs from the tags when the caller gives none", () => {
      expect(refusal(task({ tags: { tres: "north" } })).field).toBe("tags.Project");
      expect(refusal(task({ tags: undefined })).field).toBe("tags.Project");
      expect(refusal(task({ tags: { Project: "diabetes" } })).message).toMatch(/^tags\.tres: is required/);
      expect(refusal(task({ tags: { Project: "diabetes", tres: " | " } })).message).toBe(
        "tags.tres: must name at least one TRE",
      );
      expect(tesTaskToSubmission(task({ tags: undefined }), { project: "x", tres: ["y"] }).project).toBe("x");
    });

    it("names the tag that holds a bad project or TRE name", () => {
      expect(refusal(task({ tags: { Project: "Diabetes", tres: "north" } })).message).toMatch(
        /^tags\.Project: "Diabetes" is not a tremesh project name/,
      );
      expect(refusal(task({ tags: { project: "x y", tres: "north" } })).field).toBe("tags.project");
      expect(refusal(task({ tags: { Project: "a", project: "b", tres: "north" } })).message).toBe(
        'tags.project: "b" disagrees with tags.Project "a"',
      );
      expect(refusal(task({ tags: { Project: "a", tres: "north|South" } })).message).toBe(
        'tags.tres: "South" is not a TRE name (lower-case letters, digits and -)',
      );
      expect(refusal(task({ tags: { Project: 7, tres: "north" } })).message).toBe(
        "tags.Project: expected a string, got number 7",
      );
      expect(refusal(task({ tags: "Project=a" })).field).toBe("tags");
      expect(refusal(task(), { project: "Bad Name" }).field).toBe("project");
      expect(refusal(task(), { tres: ["ok", "NOT"] }).field).toBe("tres");
    });
  });

  describe("title", () => {
    it("trims the name, drops an empty one and lets the caller's title win", () => {
      expect(tesTaskToSubmission(task({ name: "   " })).title).toBeUndefined();
      expect(tesTaskToSubmission(task({ name: undefined })).title).toBeUndefined();
      expect(tesTaskToSubmission(task({ name: "x".repeat(300) }), { title: " Mine " }).title).toBe("Mine");
    });

    it("takes a name up to the protocol's 200-character title limit and refuses a longer one", () => {
      expect(tesTaskToSubmission(task({ name: ` ${"n".repeat(200)} ` })).title).toHaveLength(200);
      expect(refusal(task({ name: "n".repeat(201) })).message).toBe(
        "name: must have at most 200 characters (a tremesh task title), got 201",
      );
      expect(refusal(task({ name: 42 })).field).toBe("name");
      expect(refusal(task(), { title: "t".repeat(201) }).field).toBe("title");
    });
  });

  describe("executor", () => {
    it("needs exactly one executor and says why", () => {
      expect(refusal(task({ executors: undefined })).message).toBe(
        "executors: is required: one executor to run",
      );
      expect(refusal(task({ executors: [] })).message).toMatch(
        /^executors: must have exactly one executor, got 0/,
      );
      const two = task({ executors: [task().executors, task().executors].flat() });
      expect(refusal(two).message).toMatch(
        /^executors: must have exactly one executor, got 2: tremesh runs one container per TRE per task/,
      );
      expect(refusal(task({ executors: { image: IMAGE } })).field).toBe("executors");
      expect(refusal(task({ executors: ["echo"] })).field).toBe("executors[0]");
    });

    it("tells the user to pin a tag-only image by digest", () => {
      const { field, message } = refusal(task(executor({ image: "tremesh/stats:1.2" })));
      expect(field).toBe("executors[0].image");
      expect(message).toMatch(/"tremesh\/stats:1\.2" is named by tag only; pin it by digest as name@sha256:/);
      expect(refusal(task(executor({ image: "stats@sha256:abc" }))).message).toMatch(
        /^executors\[0\]\.image: "stats@sha256:abc" is not name@sha256:<64 hex digits>/,
      );
      expect(refusal(task(executor({ image: `Stats@sha256:${DIGEST}` }))).field).toBe("executors[0].image");
      expect(refusal(task(executor({ image: undefined }))).message).toMatch(
        /^executors\[0\]\.image: is required/,
      );
    });

    it("needs a non-empty command of strings", () => {
      expect(refusal(task(executor({ command: undefined }))).message).toBe(
        "executors[0].command: is required: the command to run in the image",
      );
      expect(refusal(task(executor({ command: [] }))).message).toBe(
        "executors[0].command: must not be empty",
      );
      expect(refusal(task(executor({ command: "mean age" }))).field).toBe("executors[0].command");
      expect(refusal(task(executor({ command: ["mean", 3] }))).field).toBe("executors[0].command[1]");
    });

    it("copies env and refuses bad variable names and non-string values", () => {
      expect(refusal(task(executor({ env: { "1X": "v" } }))).message).toBe(
        'executors[0].env: "1X" is not a variable name (letters, digits, _, not starting with a digit)',
      );
      expect(refusal(task(executor({ env: { N: 3 } }))).message).toBe(
        "executors[0].env.N: expected a string, got number 3",
      );
      expect(refusal(task(executor({ env: ["A=b"] }))).field).toBe("executors[0].env");
      expect(tesTaskToSubmission(task(executor({ env: {} }))).analysis).not.toHaveProperty("env");
    });

    it("names the TES field when the protocol's own limits refuse the analysis", () => {
      const long = Array.from({ length: 257 }, () => "x");
      expect(refusal(task(executor({ command: long }))).message).toBe(
        "executors[0].command: must have at most 256 items",
      );
      expect(refusal(task(executor({ command: ["x".repeat(4097)] }))).field).toBe("executors[0].command[0]");
      const manyVars = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`V${i}`, "v"]));
      expect(refusal(task(executor({ env: manyVars }))).field).toBe("executors[0].env");
    });

    it("refuses stdin and warns that stdout, stderr, workdir and ignore_error have no effect", () => {
      expect(refusal(task(executor({ stdin: "/data/in.txt" }))).message).toMatch(
        /^executors\[0\]\.stdin: must be absent: nothing enters a TRE/,
      );
      const result = tesTaskToSubmission(
        task(executor({ stdout: "/outputs/log", stderr: "/tmp/err", workdir: "/work", ignore_error: true })),
      );
      expect(result.warnings).toEqual([
        "executors[0].stdout: ignored: tremesh keeps a container's stdout and stderr inside the TRE",
        "executors[0].stderr: ignored: tremesh keeps a container's stdout and stderr inside the TRE",
        "executors[0].workdir: ignored: the container starts in /tmp (its scratch space), so use absolute paths",
        "executors[0].ignore_error: ignored: a non-zero exit always ends the task at that TRE as an executor error",
      ]);
      const quiet = tesTaskToSubmission(task(executor({ stdin: null, stdout: null, ignore_error: false })));
      expect(quiet.warnings).toEqual([]);
    });
  });

  describe("inputs", () => {
    it("refuses inputs fetched from outside or given inline", () => {
      expect(
        refusal(task({ inputs: [{ url: "s3://bucket/data.csv", path: "/data/x.csv" }] })).message,
      ).toMatch(
        /^inputs\[0\]\.url: "s3:\/\/bucket\/data\.csv" is not supported: nothing enters a TRE except the task/,
      );
      expect(refusal(task({ inputs: [{ content: "1,2,3", path: "/data/x.csv" }] })).field).toBe(
        "inputs[0].content",
      );
      expect(refusal(task({ inputs: [{ content: "x", url: "tremesh:dataset/patients" }] })).field).toBe(
        "inputs[0].content",
      );
      expect(refusal(task({ inputs: [{ path: "/data/x.csv" }] })).message).toMatch(
        /^inputs\[0\]\.url: is missing/,
      );
      expect(refusal(task({ inputs: "patients" })).field).toBe("inputs");
    });

    it("checks the dataset name, type and mount path of a tremesh:dataset input", () => {
      const input = (changes: Record<string, unknown>) =>
        task({ inputs: [{ url: "tremesh:dataset/patients", ...changes }] });
      expect(refusal(input({ url: "tremesh:dataset/pa-tients" })).message).toBe(
        'inputs[0].url: "pa-tients" is not a dataset name (letters, digits and _)',
      );
      expect(refusal(input({ path: "/data/patients.parquet" })).message).toBe(
        'inputs[0].path: "/data/patients.parquet": dataset patients is mounted read-only at /data/patients.csv',
      );
      expect(refusal(input({ type: "DIRECTORY" })).field).toBe("inputs[0].type");
      expect(tesTaskToSubmission(input({ path: "/data/patients.csv" })).analysis.datasets).toEqual([
        "patients",
      ]);
    });

    it("reads datasets from tags.datasets and refuses a bad name there", () => {
      const tags = { Project: "diabetes", tres: "north", datasets: "patients, visits" };
      expect(tesTaskToSubmission(task({ tags })).analysis.datasets).toEqual(["patients", "visits"]);
      expect(refusal(task({ tags: { ...tags, datasets: "patients|drop table" } })).message).toBe(
        'tags.datasets: "drop table" is not a dataset',
      );
    });

    it("names the inputs when there are more datasets than the protocol allows", () => {
      const datasets = Array.from({ length: 17 }, (_, i) => `d${i}`).join("|");
      expect(refusal(task({ tags: { Project: "p", tres: "t", datasets } })).message).toBe(
        "inputs and tags.datasets: must have at most 16 items",
      );
    });
  });

  describe("outputs", () => {
    const output = (o: Record<string, unknown>) => task({ outputs: [o] });

    it("accepts files directly in /outputs and /outputs itself as a directory", () => {
      for (const o of [
        { path: "/outputs/mean.json" },
        { path: "/outputs/mean.json", type: "FILE" },
        { path: "/outputs", type: "DIRECTORY" },
        { path: "/outputs/", type: "DIRECTORY" },
        { path: "/outputs/*.csv", path_prefix: "/outputs" },
      ]) {
        expect(tesTaskToSubmission(output(o)).warnings).toEqual([]);
      }
    });

    it("refuses outputs outside /outputs, in sub-directories, or of the wrong type", () => {
      expect(refusal(output({ path: "/tmp/mean.json" })).message).toBe(
        'outputs[0].path: "/tmp/mean.json" is not under /outputs/: tremesh collects outputs only from /outputs, into the TRE\'s airlock',
      );
      expect(refusal(output({ path: "/outputs-other/x" })).field).toBe("outputs[0].path");
      expect(refusal(output({ path: "/outputs/../etc/passwd" })).message).toMatch(
        /^outputs\[0\]\.path: .* is not a file directly in \/outputs/,
      );
      expect(refusal(output({ path: "/outputs/plots/a.svg" })).field).toBe("outputs[0].path");
      expect(refusal(output({ path: "/outputs/plots", type: "DIRECTORY" })).message).toBe(
        "outputs[0].type: only /outputs itself may be a DIRECTORY output; list files by path",
      );
      expect(refusal(output({ path: "/outputs" })).field).toBe("outputs[0].type");
      expect(refusal(output({ path: "/outputs/a", type: "LINK" })).field).toBe("outputs[0].type");
      expect(refusal(output({ path: "/outputs/*.csv", path_prefix: "/tmp" })).field).toBe(
        "outputs[0].path_prefix",
      );
      expect(refusal(output({ url: "s3://bucket/x" })).field).toBe("outputs[0].path");
      expect(refusal(task({ outputs: [{ path: "/outputs/a" }, "b"] })).field).toBe("outputs[1]");
    });

    it("warns that an output's url is ignored", () => {
      const result = tesTaskToSubmission(
        output({ path: "/outputs/mean.json", url: "s3://bucket/mean.json" }),
      );
      expect(result.warnings).toEqual([
        "outputs[0].url: ignored: outputs leave a TRE only through its airlock, after review, never to a URL",
      ]);
    });
  });

  it("warns that resources are ignored and refuses volumes", () => {
    const result = tesTaskToSubmission(task({ resources: { cpu_cores: 4, ram_gb: 16, preemptible: true } }));
    expect(result.warnings).toEqual([
      "resources: ignored: the TRE's own CPU, memory, disk and time limits apply (its leaf.yaml)",
    ]);
    expect(refusal(task({ volumes: ["/vol/a"] })).message).toMatch(
      /^volumes: tremesh runs containers with a read-only root filesystem; only \/tmp \(scratch\) and \/outputs/,
    );
    expect(refusal(task({ volumes: "/vol/a" })).field).toBe("volumes");
    expect(tesTaskToSubmission(task({ volumes: null, resources: null })).warnings).toEqual([]);
  });
});
