/**
 * The aggregator uses a Release only when the TRE's pinned key signed it for this task, its reviewers'
 * decisions approve exactly the released bytes, and every output is a valid output description.
 * Anything else is set aside with a reason, never thrown.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { combineOutputs, ExclusionCode, outputsByName, verifyReleases } from "../aggregator/index.js";
import { generatePatients, patientProfiles, type QuerySpec } from "../executors/index.js";
import {
  type AnalysisOutput,
  type Decision,
  encodeOutput,
  generateKeyPair,
  newId,
  type Release,
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
});
