/**
 * `tremesh demo` end to end, as a new user runs it (the hub and each TRE as their own processes, and a
 * Podman service for the container analysis), then checked the way the README says anyone can: regenerate
 * each TRE's rows from the JSON's recipe, confirm they are the data files the TREs read, and recompute
 * every statistic on the union of the rows — the container's own summary too.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { lstat, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_JSON_FORMAT } from "../cli/demo.js";
import { DEMO_RUN_ENV } from "../cli/demo-pids.js";
import { run } from "../cli/main.js";
import { checkCrateZip } from "../crate/index.js";
import {
  generatePatients,
  type PatientProfile,
  type PatientRow,
  patientProfiles,
} from "../fixtures/index.js";
import type { AnalysisSpec } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { referenceOutput } from "./harness/reference-stats.js";

const dirs: string[] = [];
afterAll(async () => {
  if (process.env.TREMESH_KEEP_TMP !== "1")
    for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface DemoJson {
  format: string;
  tres: {
    tre: string;
    data: { file: string; sha256: string; rows: number; generator: { profile: string; seed: number } };
  }[];
  containers: { image?: string; skipped?: string };
  analyses: {
    title: string;
    analysis: AnalysisSpec;
    state: string;
    reviews: { tre: string; output: string; outcome: string; action: string }[];
    crate: string | null;
    aggregate: {
      outputs: { name: string; result?: Record<string, unknown> }[];
      files: { tre: string; name: string; mediaType: string; sha256: string }[];
      excluded: unknown[];
    };
  }[];
}

/** What the demo image's script leaves beside its summary: the header of the extract it was given. */
const EXTRACT_HEADER = "age,sex,region,bmi,systolic_bp,cholesterol,smoker,diabetes\n";
const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

describe("tremesh demo", () => {
  it("runs six analyses across three TREs, one in a container, and every figure agrees with the union of the TREs' rows", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-test-"));
    dirs.push(dir);
    const out: string[] = [];
    const err: string[] = [];
    const code = await run(["demo", "--json", "--dir", dir], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    expect(err).toEqual([]);
    expect(code).toBe(0);
    const demo = JSON.parse(out.join("\n")) as DemoJson;
    expect(demo.format).toBe(DEMO_JSON_FORMAT);
    expect(demo.analyses.map((a) => [a.analysis.kind, a.state])).toEqual([
      ["count", "completed"],
      ["summary", "completed"],
      ["histogram", "completed"],
      ["crosstab", "completed"],
      ["regression", "completed"],
      ["container", "completed"],
    ]);
    expect(demo.containers.image).toMatch(/^tremesh\/demo-stats@sha256:[0-9a-f]{64}$/);

    const union: PatientRow[] = [];
    for (const t of demo.tres) {
      const rows = generatePatients(
        patientProfiles[t.data.generator.profile as keyof typeof patientProfiles] as PatientProfile,
        t.data.generator.seed,
      );
      expect(rows.length).toBe(t.data.rows);
      expect(sha256(await readFile(t.data.file))).toBe(t.data.sha256);
      union.push(...rows);
    }
    let checked = 0;
    for (const a of demo.analyses) {
      expect(a.aggregate.excluded).toEqual([]);
      const [output] = a.aggregate.outputs;
      expect(output?.result, a.title).toBeDefined();
      if (a.analysis.kind === "container") {
        checked += expectContainerSummary(a, union);
        continue;
      }
      // Counts are rounded to base 5 by the TREs' default rules, so only bounds can be exact about them.
      checked += expectMatchesTruth(output!.result!, referenceOutput(a.analysis, union), { exact: false });
    }
    expect(checked).toBeGreaterThan(20);
    // The researcher's combined Five Safes RO-Crate of each analysis: written, and one of a built-in analysis
    // and the container's pass the profile with no REQUIRED or RECOMMENDED finding.
    for (const a of demo.analyses)
      expect(a.crate, a.title).toMatch(/[/\\]crates[/\\][0-9A-Z]{26}-combined\.zip$/);
    for (const a of [demo.analyses[0], demo.analyses.at(-1)]) {
      const check = await checkCrateZip(await readFile(a?.crate as string));
      expect(check.bagProblems).toEqual([]);
      expect(
        check.profile?.findings.filter((f) => f.level !== "OPTIONAL"),
        a?.title,
      ).toEqual([]);
    }
    // Data files, logs and stores are owner-only, as the configs and secrets beside them are.
    expect(
      await groupOrOtherAccess(
        dir,
        demo.tres.map((t) => t.data.file),
      ),
    ).toEqual([]);
    // Everything it started is stopped, so no pids.json is left for a later `demo stop` to act on.
    expect(existsSync(join(dir, "pids.json"))).toBe(false);
    expect(processesIn(dir)).toEqual([]);
    // Valley's small population fails some cells: its reviewer released the checked form instead.
    expect(
      demo.analyses
        .flatMap((a) => a.reviews)
        .some((r) => r.tre === "valley" && r.action === "approved the releasable form"),
    ).toBe(true);
  }, 180_000);

  it("with --keep leaves the federation running; a second run on its folder changes nothing; demo stop stops all of it", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-test-"));
    dirs.push(dir);
    try {
      const first = await tremesh(["demo", "--keep", "--dir", dir]);
      expect(first.err).toEqual([]);
      expect(first.code).toBe(0);
      const pidsText = await readFile(join(dir, "pids.json"), "utf8");
      expect((await lstat(join(dir, "pids.json"))).mode & 0o077).toBe(0); // owner-only
      const record = JSON.parse(pidsText) as { run: string; processes: { name: string }[] };
      const names = record.processes.map((p) => p.name);
      expect([...names].sort()).toEqual(
        [
          "hub",
          "leaf-north",
          "leaf-south",
          "leaf-valley",
          "podman",
          "researcher-page",
          "review-page-north",
        ].sort(),
      );
      const running = processesIn(dir);
      // Each party and the nats-server it started, Podman and the two pages, every one carrying the run's mark.
      expect(running.length).toBeGreaterThanOrEqual(names.length + 4);
      expect(running.every((p) => p.mark === record.run)).toBe(true);

      const second = await tremesh(["demo", "--keep", "--dir", dir]);
      expect(second.err).toEqual([
        `tremesh demo: ${dir} holds a running demo federation; nothing was changed. Give another --dir, or stop it ` +
          `with \`tremesh demo stop ${dir}\` and remove the folder first`,
      ]);
      expect(second.code).toBe(1);
      expect(await readFile(join(dir, "pids.json"), "utf8")).toBe(pidsText);
      expect(processesIn(dir)).toEqual(running);

      const stop = await tremesh(["demo", "stop", dir]);
      expect(stop.err).toEqual([]);
      expect(stop.out).toEqual([
        `stopped the demo federation in ${dir}: ${names.join(", ")} (${running.length} processes)`,
      ]);
      expect(stop.code).toBe(0);
      expect(existsSync(join(dir, "pids.json"))).toBe(false);
      expect(processesIn(dir)).toEqual([]);

      const again = await tremesh(["demo", "stop", dir]);
      expect(again.err).toEqual([
        `tremesh demo stop: ${dir} holds no running demo (no pids.json); give the folder that \`tremesh demo --keep --dir DIR\` printed`,
      ]);
      expect(again.code).toBe(3);
    } finally {
      if (existsSync(join(dir, "pids.json"))) await tremesh(["demo", "stop", dir]);
    }
  }, 240_000);

  it("stop refuses a folder that holds no demo", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-test-"));
    dirs.push(dir);
    const err: string[] = [];
    expect(await run(["demo", "stop", dir], { out: () => {}, err: (l) => err.push(l) })).toBe(3);
    expect(err[0]).toMatch(/^tremesh demo stop: .*pids\.json/);
  });
});

async function tremesh(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/**
 * Every process running with its working folder in `dir` (the demo starts each party there, Podman in its
 * `podman` folder, and their children inherit it), with the demo run's mark its environment carries.
 */
function processesIn(dir: string): { pid: number; mark: string | undefined }[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .flatMap((name) => {
      try {
        const cwd = readlinkSync(`/proc/${name}/cwd`);
        if (cwd !== dir && !cwd.startsWith(`${dir}/`)) return [];
        if (readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1]?.startsWith("Z")) return [];
        const env = readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
        const mark = env.find((e) => e.startsWith(`${DEMO_RUN_ENV}=`))?.slice(DEMO_RUN_ENV.length + 1);
        return [{ pid: Number(name), mark }];
      } catch {
        return []; // ended meanwhile
      }
    })
    .sort((a, b) => a.pid - b.pid);
}

/**
 * Which of the demo's data files, logs and Podman store folder its group or others may read, write or enter
 * (the admin folder's public JWTs and certificates are meant to be readable).
 */
async function groupOrOtherAccess(dir: string, dataFiles: string[]): Promise<string[]> {
  const logs = join(dir, "logs");
  const paths = [...dataFiles, logs, ...(await readdir(logs)).map((f) => join(logs, f)), join(dir, "podman")];
  const open: string[] = [];
  for (const path of paths) {
    const mode = (await lstat(path)).mode & 0o777;
    if (mode & 0o077) open.push(`${relative(dir, path)} ${mode.toString(8)}`);
  }
  return open;
}

/**
 * The container analysis: its summary, computed by awk inside each TRE's sandbox, pooled to exactly the
 * n and mean of the union's rows (summaries are not rounded); each TRE's reviewer read and released both
 * outputs; and the released file is the extract's header, naming no identifier.
 */
function expectContainerSummary(a: DemoJson["analyses"][number], union: PatientRow[]): number {
  expect(a.aggregate.outputs.map((o) => o.name)).toEqual(["systolic_bp-summary.json"]);
  const result = a.aggregate.outputs[0]!.result!;
  const [cell] = result.cells as { combined: { leftOut: string[] } }[];
  expect(cell?.combined.leftOut).toEqual([]); // so the pooled mean and variance are checked too
  const truth = referenceOutput({ kind: "summary", dataset: "patients", column: "systolic_bp" }, union);
  const checked = expectMatchesTruth(result, truth, { exact: true });
  expect(a.reviews.map((r) => `${r.tre}/${r.output}: ${r.outcome}`).sort()).toEqual(
    ["north", "south", "valley"].flatMap((t) => [
      `${t}/columns.txt: review`,
      `${t}/systolic_bp-summary.json: review`,
    ]),
  );
  expect(a.aggregate.files.map((f) => [f.tre, f.name, f.mediaType, f.sha256])).toEqual(
    ["north", "south", "valley"].map((t) => [t, "columns.txt", "text/plain", sha256(EXTRACT_HEADER)]),
  );
  return checked;
}
