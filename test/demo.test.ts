/**
 * `tremesh demo` end to end, as a new user runs it (the hub and each TRE as their own processes), then
 * checked the way the README says anyone can: regenerate each TRE's rows from the JSON's recipe, confirm
 * they are the data files the TREs read, and recompute every statistic on the union of the rows.
 */
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_JSON_FORMAT } from "../cli/demo.js";
import { run } from "../cli/main.js";
import {
  generatePatients,
  type PatientProfile,
  type PatientRow,
  patientProfiles,
} from "../executors/index.js";
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
  analyses: {
    title: string;
    analysis: AnalysisSpec;
    state: string;
    reviews: { tre: string; action: string }[];
    aggregate: { outputs: { name: string; result?: Record<string, unknown> }[]; excluded: unknown[] };
  }[];
}

describe("tremesh demo", () => {
  it("runs five analyses across three TREs, and every figure agrees with the union of the TREs' rows", async () => {
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
    ]);

    const union: PatientRow[] = [];
    for (const t of demo.tres) {
      const rows = generatePatients(
        patientProfiles[t.data.generator.profile as keyof typeof patientProfiles] as PatientProfile,
        t.data.generator.seed,
      );
      expect(rows.length).toBe(t.data.rows);
      expect(
        createHash("sha256")
          .update(await readFile(t.data.file))
          .digest("hex"),
      ).toBe(t.data.sha256);
      union.push(...rows);
    }
    let checked = 0;
    for (const a of demo.analyses) {
      expect(a.aggregate.excluded).toEqual([]);
      const [output] = a.aggregate.outputs;
      expect(output?.result, a.title).toBeDefined();
      if (a.analysis.kind === "container") throw new Error("the demo runs no containers");
      // Counts are rounded to base 5 by the TREs' default rules, so only bounds can be exact about them.
      checked += expectMatchesTruth(output!.result!, referenceOutput(a.analysis, union), { exact: false });
    }
    expect(checked).toBeGreaterThan(20);
    // Valley's small population fails some cells: its reviewer released the checked form instead.
    expect(
      demo.analyses
        .flatMap((a) => a.reviews)
        .some((r) => r.tre === "valley" && r.action === "approved the releasable form"),
    ).toBe(true);
  });

  it("stop refuses a folder that holds no demo", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-test-"));
    dirs.push(dir);
    const err: string[] = [];
    expect(await run(["demo", "stop", dir], { out: () => {}, err: (l) => err.push(l) })).toBe(3);
    expect(err[0]).toMatch(/^tremesh demo: demo stop: .*pids\.json/);
  });
});
