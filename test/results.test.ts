/**
 * The researcher's commands on a real federation: `submit --wait`, `watch`, `results`, `aggregate` (text,
 * `--json`, `--csv`, `--plot`). With the TREs' rounding and suppression off, every combined figure equals
 * the statistic computed on the union of the TREs' rows: counts exactly, the rest to 1e-9 relative. A
 * Release that does not verify against the key the researcher pinned for its TRE is left out and reported.
 */
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  generatePatients,
  type PatientRow,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
} from "../fixtures/index.js";
import { type AnalysisSpec, generateKeyPair, streams, subjects, type TaskView } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { auditRecords } from "./harness/fault-evidence.js";
import {
  addProject,
  approveProject,
  type Federation,
  startFederation,
  taskView,
} from "./harness/federation.js";
import { referenceOutput } from "./harness/reference-stats.js";
import { storedEntries } from "./harness/stream-contents.js";
import { uniqueToken } from "./harness/unique.js";

const rows: Record<string, PatientRow[]> = {
  a: generatePatients(patientProfiles.north, 21),
  b: generatePatients(patientProfiles.south, 22),
  c: generatePatients(patientProfiles.small, 23),
};
const union = [...rows.a!, ...rows.b!, ...rows.c!];
const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };

const ANALYSES: AnalysisSpec[] = [
  { kind: "count", dataset: "patients", groupBy: ["region", "sex"] },
  { kind: "summary", dataset: "patients", column: "cholesterol", groupBy: ["smoker"] },
  { kind: "histogram", dataset: "patients", column: "systolic_bp", bins: { min: 90, max: 190, count: 10 } },
  {
    kind: "crosstab",
    dataset: "patients",
    rows: "sex",
    cols: "diabetes",
    filters: [{ column: "age", op: "ge", value: 40 }],
  },
  {
    kind: "regression",
    dataset: "patients",
    outcome: "cholesterol",
    predictors: ["age", "bmi", "systolic_bp"],
  },
];

let fed: Federation;

async function analysisFile(analysis: AnalysisSpec): Promise<string> {
  const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(analysis));
  return file;
}

async function submitWait(analysis: AnalysisSpec, tres = "a,b,c", project = "diabetes") {
  const file = await analysisFile(analysis);
  return fed.cli(
    ["submit", "--project", project, "--tres", tres, file, "--wait", "--timeout-ms", "30000"],
    "alice",
  );
}

/** The reason TRE `tre` gave for its part of the task's state, as `tremesh status --json` shows it. */
async function reasonAt(taskId: string, tre: string): Promise<string> {
  const view = await taskView(fed, taskId);
  const child = view.children.find((c) => c.tre === tre)!;
  return child.history.findLast((h) => h.state === child.state)!.reason!;
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b", "c"],
    researchers: ["alice"],
    leafExtra: (tre) => ({
      datasets: [{ name: "patients", engine: "csv", path: `./patients-${tre}.csv`, ...allow }],
      projects: [
        {
          name: "diabetes",
          researchers: ["alice"],
          analyses: ["count", "summary", "histogram", "crosstab", "regression"],
          datasets: ["patients"],
        },
        // Approved by TREs a and b alone: c rejects its tasks, which end partial.
        ...(tre === "c"
          ? []
          : [{ name: "heart", researchers: ["alice"], analyses: ["count"], datasets: ["patients"] }]),
      ],
      // Nothing rounded or withheld, so the combined figures can be compared exactly.
      disclosure: { roundingBase: 1, minCellCount: 1, zerosDisclosive: false },
      review: { autoRelease: true },
    }),
    startLeaves: [],
  });
  for (const tre of ["a", "b", "c"])
    await writePatientsCsv(rows[tre]!, join(fed.files.dir, `patients-${tre}.csv`));
  for (const tre of ["a", "b", "c"]) await fed.startLeaf(tre);
  await approveProject(fed, { project: "diabetes", tres: ["a", "b", "c"], members: ["alice"] });
  await addProject(fed, { project: "heart", tres: ["a", "b", "c"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("results and aggregate", () => {
  it("combines every kind of analysis exactly as a computation on the union of the TREs' rows", async () => {
    for (const analysis of ANALYSES) {
      const submitted = await submitWait(analysis);
      expect(submitted.code, submitted.err.join("\n")).toBe(0);
      const taskId = submitted.out[0]!;
      const r = await fed.cli(["aggregate", taskId, "--json"], "alice");
      expect(r.code).toBe(0);
      const doc = JSON.parse(r.out.join("\n")) as {
        outputs: { result: Record<string, unknown> }[];
        excluded: unknown[];
      };
      expect(doc.excluded).toEqual([]);
      expect(doc.outputs).toHaveLength(1);
      if (analysis.kind === "container") throw new Error("no containers here");
      const checked = expectMatchesTruth(doc.outputs[0]!.result, referenceOutput(analysis, union), {
        exact: true,
      });
      expect(checked).toBeGreaterThan(2);
    }
  });

  it("shows every step of an auto-released task at each TRE, by who took it, though it left in its Release alone, with two audit records", async () => {
    const submitted = await submitWait(ANALYSES[0]!, "a");
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const status = await fed.cli(["status", submitted.out[0]!, "--json"], "alice");
    const view = JSON.parse(status.out.join("\n")) as TaskView;
    expect(view.children[0]!.history.map((h) => [h.state, h.actor])).toEqual([
      ["queued", "hub"],
      ["received", "tre:a/agent"],
      ["accepted", "tre:a/agent"],
      ["running", "tre:a/agent"],
      ["outputs_pending_review", "tre:a/agent"],
      ["released", "tre:a/airlock"],
    ]);
    const explained = view.children[0]!.history.filter((h) => h.state !== "queued" && h.state !== "running");
    expect(explained.map((h) => typeof h.reason)).toEqual(["string", "string", "string", "string"]);
    // As the TRE sent them: every step in the Release (the claim's waited for it), no StatusEvent.
    const outbox = await storedEntries(fed.leaves.get("a")!.dmzJsm, streams.outbox);
    expect(outbox.filter((e) => e.subject === subjects.status("a", view.taskId))).toHaveLength(0);
    expect(outbox.filter((e) => e.subject === subjects.release("a", view.taskId))).toHaveLength(1);
    // And in the TRE's audit chain: decided at hold, the task was held and released in one transition.
    const audit = (await auditRecords(jetstream(fed.leaves.get("a")!.ctrl))).filter(
      (r) => r.taskId === view.taskId && r.action.startsWith("task."),
    );
    expect(audit.map((r) => [r.action, r.details?.passed])).toEqual([
      ["task.running", "received,accepted"],
      ["task.released", "outputs_pending_review"],
    ]);
  });

  it("prints per-TRE and combined tables, CSV, and a plot of a histogram", async () => {
    const submitted = await submitWait(ANALYSES[2]!, "a,c");
    const taskId = submitted.out[0]!;
    // submit --wait reported progress on stderr and ended with the task's final state.
    expect(submitted.err.at(-1)).toMatch(/^completed: a released, c released$/);

    const text = await fed.cli(["aggregate", taskId], "alice");
    const truth = referenceOutput(ANALYSES[2] as never, [...rows.a!, ...rows.c!]);
    if (truth.kind !== "histogram") throw new Error("expected a histogram");
    const firstBin = text.out
      .join("\n")
      .split("\n")
      .find((l) => l.startsWith("[90, 100)"));
    expect(firstBin?.trim().split(/\s+/).at(-1)).toBe(String(truth.counts[0]));

    const csv = await fed.cli(["aggregate", taskId, "--csv"], "alice");
    expect(csv.out.join("\n")).toContain(`combined,${truth.counts[0]},${truth.counts[0]}`);

    const plot = join(fed.files.dir, "histogram.svg");
    expect((await fed.cli(["aggregate", taskId, "--plot", plot], "alice")).code).toBe(0);
    const svg = await readFile(plot, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("systolic_bp");
    // Never over a file already there, and only to a file named .svg.
    const again = await fed.cli(["aggregate", taskId, "--plot", plot], "alice");
    expect(again.code).toBe(3);
    expect(again.err.at(-1)).toBe(
      `tremesh aggregate: --plot ${plot}: exists; tremesh does not write over a file: give another path, or move it away first`,
    );
    expect(await readFile(plot, "utf8")).toBe(svg);
    const png = await fed.cli(["aggregate", taskId, "--plot", join(fed.files.dir, "h.png")], "alice");
    expect(png.code).toBe(2);
    expect(png.err).toEqual([
      `tremesh aggregate: --plot ${join(fed.files.dir, "h.png")}: the plot is an SVG image; name its file .svg`,
    ]);

    const results = await fed.cli(["results", taskId, "--json"], "alice");
    const perTre = JSON.parse(results.out.join("\n")) as {
      tres: { tre: string; state: string; outputs: { autoReleased: boolean }[]; files: unknown[] }[];
    };
    expect(perTre.tres.map((t) => [t.tre, t.state, t.outputs.length, t.outputs[0]?.autoReleased])).toEqual([
      ["a", "released", 1, true],
      ["c", "released", 1, true],
    ]);
    expect(perTre.tres.map((t) => t.files)).toEqual([[], []]);

    // Only output descriptions were released: --save-files writes nothing, creates no folder, and says so.
    const filesDir = join(fed.files.dir, `files-${uniqueToken()}`);
    const saved = await fed.cli(["aggregate", taskId, "--save-files", filesDir], "alice");
    expect(saved.code).toBe(0);
    expect(saved.err).toContain(
      `--save-files: no released files in this task; nothing written to ${filesDir}`,
    );
    await expect(stat(filesDir)).rejects.toMatchObject({ code: "ENOENT" });

    // watch on a task that has ended: one plain line (not a terminal), exit 0.
    const watched = await fed.cli(["watch", taskId], "alice");
    expect(watched.code).toBe(0);
    expect(watched.out).toHaveLength(1);
    expect(watched.out[0]).toMatch(/completed\s+a: released {2}c: released$/);
  });

  it("submit --aggregate answers in one command what submit --wait then aggregate print, the result alone on stdout", async () => {
    const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
    await writeFile(file, JSON.stringify(ANALYSES[0]));
    const submit = ["submit", "--project", "diabetes", "--tres", "a,b", file, "--timeout-ms", "30000"];

    const one = await fed.cli([...submit, "--aggregate"], "alice");
    expect(one.code).toBe(0);
    // The task id and progress on stderr, ending with the task's final state.
    const taskId = /^task (\S+)$/.exec(one.err[0] ?? "")?.[1];
    expect(taskId).toBeDefined();
    expect(one.err.at(-1)).toMatch(/^completed: a released, b released$/);
    // stdout: exactly what `tremesh aggregate` prints for the same task, the combined counts of a and b.
    const two = await fed.cli(["aggregate", taskId!], "alice");
    expect(one.out).toEqual(two.out);
    const truth = referenceOutput(ANALYSES[0] as never, [...rows.a!, ...rows.b!]);
    if (truth.kind !== "count") throw new Error("expected a count");
    const csv = await fed.cli([...submit, "--aggregate", "--csv"], "alice");
    expect(csv.code).toBe(0);
    const csvLines = csv.out.join("\n").split("\n");
    expect(csvLines[0]).toBe("region,sex,source,low,high");
    for (const { key, n } of truth.cells) expect(csvLines).toContain(`${key.join(",")},combined,${n},${n}`);

    // --json: one document, the task's combined outputs, as `aggregate --json` gives.
    const json = await fed.cli([...submit, "--aggregate", "--json"], "alice");
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.out.join("\n")) as { taskId: string; state: string; outputs: unknown[] };
    expect(doc.state).toBe("completed");
    expect(doc.outputs).toHaveLength(1);

    // Aggregate's flags without --aggregate, or contradicting each other: refused before anything is sent.
    const stray = await fed.cli([...submit, "--wait", "--csv"], "alice");
    expect(stray.code).toBe(2);
    expect(stray.err.join("\n")).toContain("submit: --csv goes with --aggregate");
    const both = await fed.cli([...submit, "--aggregate", "--csv", "--json"], "alice");
    expect(both.code).toBe(2);
    expect(both.err.join("\n")).toContain("submit: give --csv or --json, not both");
  });

  it("leaves out and reports a Release that does not verify against the TRE key the researcher pinned", async () => {
    const submitted = await submitWait(ANALYSES[0]!);
    const taskId = submitted.out[0]!;
    // A profile whose pinned key for b is not b's: b's Release is signed by a key this researcher does not trust.
    const profile = parse(await readFile(fed.files.profiles.alice!, "utf8")) as {
      treKeys: Record<string, string>;
    };
    profile.treKeys.b = generateKeyPair("user").publicKey;
    const wrong = join(fed.files.dir, "alice-wrong-b.profile.yaml");
    await writeFile(wrong, stringify(profile), { mode: 0o600 });
    fed.files.profiles["alice-wrong-b"] = wrong;

    const r = await fed.cli(["aggregate", taskId, "--json"], "alice-wrong-b");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.out.join("\n")) as {
      outputs: { result: { tres: string[] } }[];
      excluded: { tre: string; code: string; reason: string }[];
    };
    expect(doc.excluded).toEqual([
      { tre: "b", code: "bad_release", reason: expect.stringMatching(/not trusted|signature/) },
    ]);
    expect(doc.outputs[0]!.result.tres).toEqual(["a", "c"]);
    const text = await fed.cli(["aggregate", taskId], "alice-wrong-b");
    expect(text.err.join("\n")).toMatch(/left out: TRE b's Release does not verify \(bad_release\)/);
  });
});

describe("a profile with another key", () => {
  it("submit and status name the profile's signingKeyFile when the hub knows no such key for the researcher", async () => {
    // alice's login with a seed the hub never registered, as a profile pointing at the wrong key file has.
    const profile = parse(await readFile(fed.files.profiles.alice!, "utf8")) as Record<string, unknown>;
    const seedFile = join(fed.files.dir, "secrets", `stray-${uniqueToken()}.seed`);
    await writeFile(seedFile, `${generateKeyPair("user").seed}\n`, { mode: 0o600 });
    const file = join(fed.files.dir, "alice-stray-key.profile.yaml");
    await writeFile(file, stringify({ ...profile, signingKeyFile: seedFile }), { mode: 0o600 });
    fed.files.profiles["alice-stray-key"] = file;
    const hint = `the hub knows no such key for alice: check signingKeyFile in ${file}; it must be the seed whose public key the federation admin registered (tremesh admin add-researcher … --signing-key)`;

    const submitted = await fed.cli(
      ["submit", "--project", "diabetes", "--tres", "a", await analysisFile(ANALYSES[0]!)],
      "alice-stray-key",
    );
    expect(submitted.code).toBe(5);
    expect(submitted.err).toEqual([
      expect.stringMatching(
        /^tremesh submit: rejected \(unknown_signer\): signer U[A-Z0-9]{7}… is not trusted; /,
      ),
    ]);
    expect(submitted.err[0]).toContain(hint);
    const status = await fed.cli(["status"], "alice-stray-key");
    expect(status.code).toBe(5);
    expect(status.err).toEqual([
      expect.stringMatching(/^tremesh status: signer U[A-Z0-9]{7}… is not trusted \(unknown_signer\); /),
    ]);
    expect(status.err[0]).toContain(hint);
  });
});

describe("when not every TRE released", () => {
  // The analysis is at fault only where the TRE said so; a TRE's approvals do not say whose move it is.
  const fixAnalysis = (taskId: string) =>
    `fix the analysis and submit again; \`tremesh status ${taskId}\` shows each TRE's history`;
  const reasonSays = (taskId: string) =>
    `the reason says what must change: the analysis, or something a TRE's operator approves or sets up; \`tremesh status ${taskId}\` shows each TRE's history`;

  it("aggregate says why a task every TRE rejected has nothing to combine, in every format, and submit --aggregate says it once", async () => {
    const byIdentifier: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["patient_id"] };
    const submitted = await submitWait(byIdentifier, "a,b");
    expect(submitted.code).toBe(1);
    const taskId = submitted.out[0]!;
    const a = await reasonAt(taskId, "a");
    expect(a).toMatch(/analysis refused: groupBy\[0\].*identifier/);
    const b = await reasonAt(taskId, "b");
    const why = [
      `task ${taskId} failed: nothing to combine`,
      `a rejected: ${a}`,
      `b rejected: ${b}`,
      fixAnalysis(taskId),
    ];

    for (const format of [[], ["--csv"]]) {
      const r = await fed.cli(["aggregate", taskId, ...format], "alice");
      expect({ format, code: r.code, out: r.out, err: r.err }).toEqual({
        format,
        code: 1,
        out: [],
        err: why,
      });
    }
    const json = await fed.cli(["aggregate", taskId, "--json"], "alice");
    expect(json.code).toBe(1);
    expect(JSON.parse(json.out.join("\n"))).toMatchObject({ taskId, state: "failed", outputs: [] });
    expect(json.err).toEqual(why);

    // results names each TRE's reason beside its state, as status does.
    const results = await fed.cli(["results", taskId], "alice");
    expect(results.code).toBe(1);
    expect(results.out).toContain(`== a: rejected — ${a}`);
    expect(results.out).toContain(`== b: rejected — ${b}`);

    // submit --aggregate: the same lines after its progress, each once.
    const file = await analysisFile(byIdentifier);
    const one = await fed.cli(
      ["submit", "--project", "diabetes", "--tres", "a,b", file, "--aggregate", "--timeout-ms", "30000"],
      "alice",
    );
    expect(one.code).toBe(1);
    expect(one.out).toEqual([]);
    const oneId = /^task (\S+)$/.exec(one.err[0] ?? "")![1]!;
    expect(one.err.at(-5)).toMatch(/^failed: a rejected, b rejected$/);
    expect(one.err.slice(-4)).toEqual([
      `task ${oneId} failed: nothing to combine`,
      `a rejected: ${a}`,
      `b rejected: ${b}`,
      fixAnalysis(oneId),
    ]);
  });

  it("aggregate and results say which TREs the result combines and why the others are left out", async () => {
    const submitted = await submitWait(ANALYSES[0]!, "a,b,c", "heart");
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const taskId = submitted.out[0]!;
    const c = await reasonAt(taskId, "c");
    expect(c).toBe("this TRE has not approved project heart");

    const text = await fed.cli(["aggregate", taskId], "alice");
    expect(text.code).toBe(0);
    expect(text.out[0]).toMatch(/^== count/);
    expect(text.err).toEqual([
      `task ${taskId} is partial: combined what a, b released`,
      `c rejected: ${c}`,
      reasonSays(taskId),
    ]);
    const csv = await fed.cli(["aggregate", taskId, "--csv"], "alice");
    expect(csv.code).toBe(0);
    expect(csv.err).toEqual(text.err);
    const json = await fed.cli(["aggregate", taskId, "--json"], "alice");
    const doc = JSON.parse(json.out.join("\n")) as {
      state: string;
      outputs: { result: { tres: string[] } }[];
    };
    expect(doc.state).toBe("partial");
    expect(doc.outputs[0]!.result.tres).toEqual(["a", "b"]);

    const results = await fed.cli(["results", taskId], "alice");
    expect(results.code).toBe(0);
    expect(results.out.filter((l) => l.startsWith("== "))).toEqual([
      "== a: released",
      "== b: released",
      `== c: rejected — ${c}`,
    ]);
  });

  it("submit --json prints one JSON document: the hub's answer, or with --wait the task's final view", async () => {
    const file = await analysisFile(ANALYSES[0]!);
    const submit = ["submit", "--project", "heart", "--tres", "a,c", file, "--json"];
    const accepted = await fed.cli(submit, "alice");
    expect(accepted.code).toBe(0);
    expect(accepted.out).toHaveLength(1);
    expect(JSON.parse(accepted.out[0]!)).toMatchObject({ status: "accepted", taskId: expect.any(String) });

    const waited = await fed.cli([...submit, "--wait", "--timeout-ms", "30000"], "alice");
    expect(waited.code).toBe(0);
    // One document a JSON reader takes whole: the view `tremesh status --json` gives, its task id included.
    const view = JSON.parse(waited.out.join("\n")) as TaskView;
    expect(view.state).toBe("partial");
    expect(view.children.map((c) => [c.tre, c.state])).toEqual([
      ["a", "released"],
      ["c", "rejected"],
    ]);
    // The id on stderr at once, before the progress, and each left-out TRE's reason at the end.
    expect(waited.err[0]).toBe(`task ${view.taskId}`);
    expect(waited.err.slice(-2)).toEqual([
      `c rejected: ${await reasonAt(view.taskId, "c")}`,
      reasonSays(view.taskId),
    ]);
    expect((await taskView(fed, view.taskId)).state).toBe("partial");
  });
});
