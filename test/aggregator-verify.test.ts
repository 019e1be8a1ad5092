/**
 * The aggregator uses a Release only when the TRE's pinned key signed it for this task, its reviewers'
 * decisions approve exactly the released bytes, and every output marked as an output description is a
 * valid one; released files of other media types pass the same checks and come back as files, never
 * combined. Anything else is set aside with a reason, never thrown.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { outputsByName } from "../aggregator/combine.js";
import { combineOutputs, ExclusionCode, verifyReleases } from "../aggregator/index.js";
import type { QuerySpec } from "../executors/index.js";
import { generatePatients, patientProfiles } from "../fixtures/index.js";
import {
  type AnalysisOutput,
  type Decision,
  encodeOutput,
  generateKeyPair,
  newId,
  OUTPUT_MEDIA_TYPE,
  type Release,
  type ReleasedOutput,
  type SigningKey,
  sealEnvelope,
  signingKeyFromSeed,
} from "../protocol/index.js";
import { referenceOutput } from "./harness/reference-stats.js";

const key = (): SigningKey => signingKeyFromSeed(generateKeyPair("user").seed);
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const HOUR = 3600_000;

const spec: QuerySpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };
const tres = {
  north: { key: key(), reviewer: key(), rows: generatePatients(patientProfiles.north, 7, "N") },
  south: { key: key(), reviewer: key(), rows: generatePatients(patientProfiles.south, 8, "S") },
  small: { key: key(), reviewer: key(), rows: generatePatients(patientProfiles.small, 9, "M") },
};
type TreName = keyof typeof tres;
const treKeys = new Map(Object.entries(tres).map(([t, v]) => [t, v.key.publicKey]));

interface Build {
  taskId: string;
  tre: TreName;
  now?: number;
  output?: AnalysisOutput;
  /** Edits the decision bodies before they are signed. */
  decision?: (d: Decision) => Decision;
  decisionKey?: SigningKey;
  /** Edits the Release body before it is signed. */
  release?: (r: Release) => Release;
  releaseKey?: SigningKey;
}

/** A Release as a TRE would send it: one output, one reviewer's approval, signed by the TRE. */
function buildRelease(b: Build): Uint8Array {
  const now = b.now ?? Date.now();
  const t = tres[b.tre];
  const data = encodeOutput(b.output ?? referenceOutput(spec, t.rows));
  const outputId = newId(now);
  const digest = sha256(data);
  const reviewer = b.decisionKey ?? t.reviewer;
  const decision: Decision = (b.decision ?? ((d) => d))({
    id: newId(now),
    iat: now,
    exp: now + HOUR,
    taskId: b.taskId,
    tre: b.tre,
    outputId,
    outputDigest: digest,
    verdict: "approve",
  });
  const body: Release = (b.release ?? ((r) => r))({
    id: newId(now),
    iat: now,
    exp: now + HOUR,
    taskId: b.taskId,
    tre: b.tre,
    decisions: [sealEnvelope("decision", decision, reviewer)],
    outputs: [{ outputId, name: "count.json", digest, data }],
    withheld: [],
    reviewers: [{ name: "reviewer", publicKey: reviewer.publicKey }],
  });
  return sealEnvelope("release", body, b.releaseKey ?? t.key);
}

interface Part {
  name: string;
  data: Uint8Array;
  mediaType?: string;
  /** Whether the reviewer's decision approves these bytes. Default true. */
  approved?: boolean;
}

/** A Release of several outputs (descriptions and files), each approved by the TRE's reviewer unless `approved` is false. */
function buildMixedRelease(taskId: string, tre: TreName, parts: readonly Part[]): Uint8Array {
  const now = Date.now();
  const t = tres[tre];
  const outputs: ReleasedOutput[] = parts.map((p) => ({
    outputId: newId(now),
    name: p.name,
    ...(p.mediaType ? { mediaType: p.mediaType } : {}),
    digest: sha256(p.data),
    data: p.data,
  }));
  const decisions = outputs.flatMap((o, i) =>
    parts[i]?.approved === false
      ? []
      : [
          sealEnvelope(
            "decision",
            {
              id: newId(now),
              iat: now,
              exp: now + HOUR,
              taskId,
              tre,
              outputId: o.outputId,
              outputDigest: o.digest,
              verdict: "approve",
            },
            t.reviewer,
          ),
        ],
  );
  const body: Release = {
    id: newId(now),
    iat: now,
    exp: now + HOUR,
    taskId,
    tre,
    decisions,
    outputs,
    withheld: [],
    reviewers: [{ name: "reviewer", publicKey: t.reviewer.publicKey }],
  };
  return sealEnvelope("release", body, t.key);
}

function verifyOne(taskId: string, tre: TreName, envelope: Uint8Array, opts = {}) {
  return verifyReleases(taskId, [{ tre, envelope }], treKeys, opts);
}
function excludedFor(taskId: string, tre: TreName, envelope: Uint8Array, opts = {}) {
  const { accepted, excluded } = verifyOne(taskId, tre, envelope, opts);
  expect(accepted).toEqual([]);
  expect(excluded).toHaveLength(1);
  return excluded[0] as NonNullable<(typeof excluded)[0]>;
}

describe("verifyReleases", () => {
  it("accepts good Releases and combines their outputs", () => {
    const taskId = newId();
    const items = (Object.keys(tres) as TreName[]).map((tre) => ({
      tre,
      envelope: buildRelease({ taskId, tre }),
    }));
    const { accepted, excluded } = verifyReleases(taskId, items, treKeys);
    expect(excluded).toEqual([]);
    expect(accepted.map((r) => r.tre)).toEqual(["north", "south", "small"]);
    const north = accepted[0];
    expect(north?.reviewers).toEqual([tres.north.reviewer.publicKey]);
    expect(north?.outputs[0]?.approvedBy).toEqual([tres.north.reviewer.publicKey]);
    expect(north?.outputs[0]?.autoReleased).toBe(false);
    expect(north?.outputs[0]?.output.kind).toBe("count");

    const groups = outputsByName(accepted);
    const result = combineOutputs(groups.get("count.json") ?? []);
    const all = referenceOutput(
      spec,
      Object.values(tres).flatMap((t) => t.rows),
    );
    expect(result.kind === "count" && result.cells.map((c) => c.combined.low)).toEqual(
      all.kind === "count" && all.cells.map((c) => c.n),
    );
  });

  it("accepts a Release long after it expired: stored Releases are read later", () => {
    const taskId = newId();
    const then = Date.now() - 90 * 24 * HOUR;
    const { accepted } = verifyOne(taskId, "north", buildRelease({ taskId, tre: "north", now: then }));
    expect(accepted).toHaveLength(1);
  });

  it("accepts a decision signed by the TRE itself (its auto-release policy) and says so", () => {
    const taskId = newId();
    const envelope = buildRelease({
      taskId,
      tre: "south",
      decisionKey: tres.south.key,
      release: (r) => ({ ...r, reviewers: [] }),
    });
    const { accepted } = verifyOne(taskId, "south", envelope);
    expect(accepted[0]?.outputs[0]?.autoReleased).toBe(true);
  });

  it("excludes a Release signed by another key than the TRE's pinned one", () => {
    const taskId = newId();
    const x = excludedFor(
      taskId,
      "north",
      buildRelease({ taskId, tre: "north", releaseKey: tres.south.key }),
    );
    expect(x.code).toBe(ExclusionCode.badRelease);
    expect(x.reason).toMatch(/release: signer .* is not trusted/);
  });

  it("excludes a Release another TRE signed for itself but delivered under this TRE's name", () => {
    const taskId = newId();
    const x = excludedFor(taskId, "north", buildRelease({ taskId, tre: "south" }));
    expect(x.code).toBe(ExclusionCode.badRelease);
  });

  it("excludes a tampered output whose bytes no longer match its digest", () => {
    const taskId = newId();
    const envelope = buildRelease({
      taskId,
      tre: "north",
      release: (r) => ({
        ...r,
        outputs: r.outputs.map((o) => ({
          ...o,
          data: new TextEncoder().encode(new TextDecoder().decode(o.data).replace(/\d{3}/, "999")),
        })),
      }),
    });
    const x = excludedFor(taskId, "north", envelope);
    expect(x.code).toBe(ExclusionCode.digestMismatch);
    expect(x.reason).toMatch(/output count\.json .*bytes hash to/);
  });

  it("excludes an output whose digest was changed with its bytes: no decision approves it", () => {
    const taskId = newId();
    const other = encodeOutput(referenceOutput(spec, tres.small.rows));
    const envelope = buildRelease({
      taskId,
      tre: "north",
      release: (r) => ({
        ...r,
        outputs: r.outputs.map((o) => ({ ...o, data: other, digest: sha256(other) })),
      }),
    });
    const x = excludedFor(taskId, "north", envelope);
    expect(x.code).toBe(ExclusionCode.notApproved);
    expect(x.reason).toMatch(/names another digest/);
  });

  it("excludes a Release whose decision is for another task", () => {
    const taskId = newId();
    const envelope = buildRelease({ taskId, tre: "north", decision: (d) => ({ ...d, taskId: newId() }) });
    const x = excludedFor(taskId, "north", envelope);
    expect(x.code).toBe(ExclusionCode.badDecision);
    expect(x.reason).toMatch(/decision 1 is for task .*, not /);
  });

  it("excludes a Release for another task", () => {
    const taskId = newId();
    const x = excludedFor(taskId, "north", buildRelease({ taskId: newId(), tre: "north" }));
    expect(x.code).toBe(ExclusionCode.wrongTask);
  });

  it("excludes unsigned garbage and an unknown TRE without throwing", () => {
    const taskId = newId();
    const garbage = new TextEncoder().encode("not an envelope at all");
    const { accepted, excluded } = verifyReleases(
      taskId,
      [
        { tre: "north", envelope: garbage },
        { tre: "east", envelope: buildRelease({ taskId, tre: "south" }) },
        { tre: "south", envelope: new Uint8Array(0) },
      ],
      treKeys,
    );
    expect(accepted).toEqual([]);
    expect(excluded.map((x) => [x.tre, x.code])).toEqual([
      ["north", ExclusionCode.badRelease],
      ["east", ExclusionCode.unknownTre],
      ["south", ExclusionCode.badRelease],
    ]);
    expect(excluded[0]?.reason).toMatch(/^release: envelope/);
  });

  it("excludes an output without an approving decision, and one a reviewer rejected", () => {
    const taskId = newId();
    const none = buildRelease({ taskId, tre: "north", release: (r) => ({ ...r, decisions: [] }) });
    expect(excludedFor(taskId, "north", none).reason).toMatch(/has no approving decision/);
    const rejected = buildRelease({ taskId, tre: "north", decision: (d) => ({ ...d, verdict: "reject" }) });
    const x = excludedFor(taskId, "north", rejected);
    expect([x.code, x.reason]).toEqual([
      ExclusionCode.notApproved,
      expect.stringMatching(/a reviewer rejected it/),
    ]);
  });

  it("excludes a decision by a reviewer the Release does not name, or not pinned by the researcher", () => {
    const taskId = newId();
    const stranger = key();
    const unnamed = buildRelease({
      taskId,
      tre: "north",
      decisionKey: stranger,
      release: (r) => ({ ...r, reviewers: [{ name: "rev", publicKey: tres.north.reviewer.publicKey }] }),
    });
    expect(excludedFor(taskId, "north", unnamed).reason).toMatch(/not a reviewer the Release names/);
    const unpinned = buildRelease({ taskId, tre: "north", decisionKey: stranger });
    const opts = { reviewerKeys: new Map([["north", [tres.north.reviewer.publicKey]]]) };
    expect(excludedFor(taskId, "north", unpinned, opts).reason).toMatch(/not a pinned reviewer of north/);
  });

  it("requires two distinct approvals under a two-reviewer rule", () => {
    const taskId = newId();
    const x = excludedFor(taskId, "north", buildRelease({ taskId, tre: "north" }), { minApprovals: 2 });
    expect(x.reason).toMatch(/1 approving reviewer\(s\), 2 needed/);
  });

  it("excludes an approved output that is not a valid output description", () => {
    const taskId = newId();
    const bad = new TextEncoder().encode('{"kind":"count"}');
    const x = excludedFor(
      taskId,
      "north",
      buildRelease({
        taskId,
        tre: "north",
        decision: (d) => ({ ...d, outputDigest: sha256(bad) }),
        release: (r) => ({ ...r, outputs: r.outputs.map((o) => ({ ...o, data: bad, digest: sha256(bad) })) }),
      }),
    );
    expect(x.code).toBe(ExclusionCode.badOutput);
    expect(x.reason).toMatch(/is not an output description: /);
  });

  it("sets aside two different Releases for one TRE but keeps one delivered twice", () => {
    const taskId = newId();
    const one = buildRelease({ taskId, tre: "north" });
    const twice = verifyReleases(
      taskId,
      [
        { tre: "north", envelope: one },
        { tre: "north", envelope: one },
      ],
      treKeys,
    );
    expect(twice.accepted).toHaveLength(1);
    const two = verifyReleases(
      taskId,
      [
        { tre: "north", envelope: one },
        { tre: "north", envelope: buildRelease({ taskId, tre: "north" }) },
      ],
      treKeys,
    );
    expect(two.accepted).toEqual([]);
    expect(two.excluded[0]?.code).toBe(ExclusionCode.conflictingReleases);
  });
  it("returns an approved text/csv file with its bytes beside a description that still combines", () => {
    const taskId = newId();
    const csv = new TextEncoder().encode("sex,n\nF,12\nM,15\n");
    const description = encodeOutput(referenceOutput(spec, tres.north.rows));
    const { accepted, excluded } = verifyOne(
      taskId,
      "north",
      buildMixedRelease(taskId, "north", [
        { name: "count.json", data: description },
        { name: "table.csv", data: csv, mediaType: "text/csv" },
      ]),
    );
    expect(excluded).toEqual([]);
    const north = accepted[0];
    expect(north?.outputs.map((o) => [o.name, o.output.kind])).toEqual([["count.json", "count"]]);
    expect(north?.files).toHaveLength(1);
    const file = north?.files[0];
    expect(file).toMatchObject({
      name: "table.csv",
      mediaType: "text/csv",
      digest: sha256(csv),
      approvedBy: [tres.north.reviewer.publicKey],
      autoReleased: false,
    });
    expect(file && "output" in file).toBe(false);
    expect(new TextDecoder().decode(file?.data)).toBe("sex,n\nF,12\nM,15\n");

    // Combining sees only the description; the file is carried alongside, under no output name.
    const groups = outputsByName(accepted);
    expect([...groups.keys()]).toEqual(["count.json"]);
    const result = combineOutputs(groups.get("count.json") ?? []);
    const truth = referenceOutput(spec, tres.north.rows);
    expect(result.kind === "count" && result.cells.map((c) => c.combined.low)).toEqual(
      truth.kind === "count" && truth.cells.map((c) => c.n),
    );
  });

  it("returns a Release of files alone, and JSON that is not a description as a file", () => {
    const taskId = newId();
    const json = new TextEncoder().encode('{"kind":"count"}');
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const { accepted, excluded } = verifyOne(
      taskId,
      "south",
      buildMixedRelease(taskId, "south", [
        { name: "notes.json", data: json, mediaType: "application/json" },
        { name: "plot.png", data: png, mediaType: "image/png" },
      ]),
    );
    expect(excluded).toEqual([]);
    expect(accepted[0]?.outputs).toEqual([]);
    expect(accepted[0]?.files.map((f) => [f.name, f.mediaType, [...f.data]])).toEqual([
      ["notes.json", "application/json", [...json]],
      ["plot.png", "image/png", [...png]],
    ]);
  });

  it("excludes the Release when a released file's digest no reviewer approved", () => {
    const taskId = newId();
    const csv = new TextEncoder().encode("a,b\n1,2\n");
    const x = excludedFor(
      taskId,
      "north",
      buildMixedRelease(taskId, "north", [
        { name: "count.json", data: encodeOutput(referenceOutput(spec, tres.north.rows)) },
        { name: "table.csv", data: csv, mediaType: "text/csv", approved: false },
      ]),
    );
    expect([x.code, x.reason]).toEqual([
      ExclusionCode.notApproved,
      expect.stringMatching(/output table\.csv .* has no approving decision/),
    ]);
  });

  it("excludes a released file whose bytes no longer match its digest, as it would a description", () => {
    const taskId = newId();
    const csv = new TextEncoder().encode("a,b\n1,2\n");
    const intact = buildMixedRelease(taskId, "north", [
      { name: "table.csv", data: csv, mediaType: "text/csv" },
    ]);
    expect(verifyOne(taskId, "north", intact).accepted).toHaveLength(1);
    // The approved digest kept, the file's bytes changed, and the Release signed again.
    const tampered = buildRelease({
      taskId,
      tre: "north",
      release: (r) => ({
        ...r,
        outputs: r.outputs.map((o) => ({
          ...o,
          name: "table.csv",
          mediaType: "text/csv",
          data: new TextEncoder().encode("a,b\n9,9\n"),
        })),
      }),
    });
    const x = excludedFor(taskId, "north", tampered);
    expect([x.code, x.reason]).toEqual([
      ExclusionCode.digestMismatch,
      expect.stringMatching(/output table\.csv .*bytes hash to/),
    ]);
  });

  it("still excludes garbage bytes labelled as an output description, whatever the case of its media type", () => {
    const taskId = newId();
    const garbage = new TextEncoder().encode("sex,n\nF,12\n");
    for (const mediaType of [OUTPUT_MEDIA_TYPE, OUTPUT_MEDIA_TYPE.toUpperCase(), undefined]) {
      const x = excludedFor(
        taskId,
        "north",
        buildMixedRelease(taskId, "north", [
          { name: "count.json", data: garbage, ...(mediaType ? { mediaType } : {}) },
        ]),
      );
      expect([x.code, x.reason]).toEqual([
        ExclusionCode.badOutput,
        expect.stringMatching(/output count\.json .* is not an output description: /),
      ]);
    }
  });
});
