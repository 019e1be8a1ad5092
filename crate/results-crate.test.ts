import { describe, expect, it } from "vitest";
import { encodeOutput, type TaskView } from "../protocol/index.js";
import type { CrateDecision, CrateRelease } from "./crate-input.js";
import { validateCrateMetadata } from "./profile-validator.js";
import { buildCombinedCrate, buildResultsCrate } from "./results-crate.js";

const taskId = "01JD3ZZZZZZZZZZZZZZZZZZZZZ";
const t0 = Date.parse("2026-12-04T10:00:00Z");
const treKey = `U${"A".repeat(55)}`;
const reviewerKey = `U${"B".repeat(55)}`;

const task: TaskView = {
  taskId,
  project: "diabetes",
  researcher: "alice",
  tres: ["a"],
  kind: "count",
  title: "Patients by sex",
  state: "partial",
  submittedAt: t0,
  updatedAt: t0 + 9000,
  children: [
    {
      tre: "a",
      state: "delivered",
      history: [
        ["queued", 10, "hub"],
        ["received", 100, "tre:a/agent"],
        ["accepted", 200, "tre:a/agent"],
        ["running", 300, "tre:a/agent"],
        ["outputs_pending_review", 900, "tre:a/agent"],
        ["partially_released", 5000, "tre:a/reviewer:bob"],
        ["delivered", 5100, "hub"],
      ].map(([state, dt, actor]) => ({ state, at: t0 + Number(dt), actor }) as never),
    },
  ],
};

const analysis = { kind: "count" as const, dataset: "patients", groupBy: ["sex"] };
const released = encodeOutput({
  kind: "count",
  dataset: "patients",
  analysis,
  groupBy: ["sex"],
  cells: [
    { key: ["F"], n: 120 },
    { key: ["M"], n: 115 },
  ],
} as never);
const WITHHELD_VALUE = "SECRET-WITHHELD-7";

const release: CrateRelease = {
  tre: "a",
  treKey,
  treKeyPinned: true,
  releaseId: "01JD40000000000000000000RR",
  releasedAt: t0 + 5000,
  outputs: [
    {
      outputId: "01JD40000000000000000000O1",
      name: "count.json",
      mediaType: "application/vnd.tremesh.output.v1+json",
      digest: "d".repeat(64),
      data: released,
      description: JSON.parse(new TextDecoder().decode(released)),
    },
  ],
  withheld: [{ outputId: "01JD40000000000000000000O2", name: "small-cells.csv", reason: "cells under 10" }],
  decisions: [
    {
      outputId: "01JD40000000000000000000O1",
      verdict: "approve",
      iat: t0 + 4000,
      signer: reviewerKey,
      envelope: new Uint8Array([1, 2, 3]),
    },
    {
      outputId: "01JD40000000000000000000O2",
      verdict: "reject",
      reason: "cells under 10",
      iat: t0 + 4500,
      signer: reviewerKey,
      envelope: new TextEncoder().encode(WITHHELD_VALUE),
    },
  ],
  reviewers: new Map([[reviewerKey, "bob"]]),
};

describe("a TRE's results crate", { timeout: 60_000 }, () => {
  it("passes the Five Safes profile's REQUIRED and RECOMMENDED rules with no finding", async () => {
    const crate = buildResultsCrate({ task, release, now: t0 + 9000, softwareVersion: "0.1.0" });
    const report = await validateCrateMetadata(crate.metadata);
    expect(report.findings.filter((f) => f.level !== "OPTIONAL")).toEqual([]);
  });

  it("records each review phase once per decision, and keeps withheld outputs out", async () => {
    const crate = buildResultsCrate({ task, release, now: t0 + 9000, softwareVersion: "0.1.0" });
    const graph = crate.metadata["@graph"];
    const types = graph.map((e) => (e.additionalType as { "@id": string } | undefined)?.["@id"] ?? "");
    expect(types.filter((t) => t.endsWith("#DisclosureCheck"))).toHaveLength(3);
    expect([...crate.files.keys()].sort()).toEqual([
      "evidence/decision-1.envelope",
      "outputs/count.json",
      "workflow/count/analysis.json",
    ]);
    const bytes =
      JSON.stringify(crate.metadata) +
      [...crate.files.values()].map((b) => Buffer.from(b).toString("latin1")).join("");
    expect(bytes).not.toContain(WITHHELD_VALUE);
    expect(crate.files.get("outputs/count.json")).toEqual(released);
  });

  it("passes for a container task whose outputs are files", async () => {
    const csv = new TextEncoder().encode("group,n\nA,40\n");
    const container: CrateRelease = {
      ...release,
      outputs: [
        {
          outputId: "01JD40000000000000000000O3",
          name: "../tables/by group.csv",
          mediaType: "text/csv",
          digest: "e".repeat(64),
          data: csv,
        },
      ],
      withheld: [],
      decisions: [{ ...(release.decisions[0] as CrateDecision), outputId: "01JD40000000000000000000O3" }],
    };
    const crate = buildResultsCrate({
      task: { ...task, kind: "container" },
      release: container,
      now: t0 + 9000,
      softwareVersion: "0.1.0",
    });
    // The TRE's name for the file is untrusted text: it becomes one plain file name under outputs/.
    expect([...crate.files.keys()]).toContain("outputs/_._tables_by_group.csv");
    const report = await validateCrateMetadata(crate.metadata);
    expect(report.findings.filter((f) => f.level !== "OPTIONAL")).toEqual([]);
  });

  it("combines every TRE's phases, receipts and the combined outputs in the researcher's crate", async () => {
    const b: CrateRelease = { ...release, tre: "b", releaseId: "01JD40000000000000000000RB", withheld: [] };
    const crate = buildCombinedCrate({
      task: {
        ...task,
        children: [...task.children, { ...task.children[0], tre: "b" } as never],
      },
      releases: [release, { ...b, decisions: [release.decisions[0] as CrateDecision] }],
      combined: [{ name: "count.json", json: '{"kind":"count"}' }],
      now: t0 + 9000,
      softwareVersion: "0.1.0",
    });
    expect([...crate.files.keys()].sort()).toEqual([
      "combined/count.json",
      "evidence/a/decision-1.envelope",
      "evidence/b/decision-1.envelope",
      "outputs/a/count.json",
      "outputs/b/count.json",
      "workflow/count/analysis.json",
    ]);
    const graph = crate.metadata["@graph"];
    expect(graph.filter((e) => e["@type"] === "ReceiveAction").map((e) => e["@id"])).toEqual([
      "#receive-a",
      "#receive-b",
    ]);
    expect(graph.find((e) => e["@id"] === "combined/count.json")?.isBasedOn).toEqual([
      { "@id": "outputs/a/count.json" },
      { "@id": "outputs/b/count.json" },
    ]);
    const report = await validateCrateMetadata(crate.metadata);
    expect(report.findings.filter((f) => f.level !== "OPTIONAL")).toEqual([]);
  });
});
