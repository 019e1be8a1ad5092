import { describe, expect, it } from "vitest";
import { analysisSpec } from "./analysis.js";
import { idTime, newId } from "./ids.js";
import { bodies, MAX_ATTEMPT, type Release } from "./messages.js";
import { isTaskId } from "./names.js";
import { subjects } from "./subjects.js";
import { FieldError } from "./validate.js";

function problem(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof FieldError) return e.message;
    throw e;
  }
  return "no error";
}

describe("analysis validation", () => {
  it("accepts each declarative analysis kind", () => {
    const ok = [
      { kind: "count", dataset: "patients", groupBy: ["sex", "region"] },
      {
        kind: "summary",
        dataset: "patients",
        column: "bmi",
        filters: [{ column: "age", op: "between", value: [40, 60] }],
      },
      { kind: "histogram", dataset: "patients", column: "age", bins: { min: 0, max: 100, count: 10 } },
      { kind: "crosstab", dataset: "patients", rows: "sex", cols: "smoker" },
      { kind: "regression", dataset: "patients", outcome: "systolic_bp", predictors: ["age", "bmi"] },
      { kind: "container", image: `registry.tre/stats@sha256:${"a".repeat(64)}`, command: ["run"] },
    ];
    for (const spec of ok) expect(analysisSpec(spec, "analysis")).toEqual(spec);
  });

  it("names the field when a column name could carry SQL", () => {
    expect(
      problem(() =>
        analysisSpec({ kind: "count", dataset: "patients", groupBy: ["sex; DROP TABLE x"] }, "analysis"),
      ),
    ).toBe('analysis.groupBy[0]: "sex; DROP TABLE x" is not an identifier (letters, digits, _)');
  });

  it("refuses unknown kinds, unknown fields, tags instead of digests and non-finite numbers", () => {
    expect(problem(() => analysisSpec({ kind: "sql", text: "select 1" }, "a"))).toMatch(
      /^a\.kind: "sql" is not one of/,
    );
    expect(problem(() => analysisSpec({ kind: "count", dataset: "p", sql: "x" }, "a"))).toBe(
      "a.sql: is not a known field (known: kind, dataset, filters, groupBy)",
    );
    expect(
      problem(() => analysisSpec({ kind: "container", image: "stats:latest", command: [] }, "a")),
    ).toMatch(/^a\.image: .* is not an image pinned by digest/);
    const nan = {
      kind: "histogram",
      dataset: "p",
      column: "age",
      bins: { min: Number.NaN, max: 1, count: 2 },
    };
    expect(problem(() => analysisSpec(nan, "a"))).toMatch(/^a\.bins\.min: expected a finite number/);
  });

  it("does not read fields through a hostile prototype", () => {
    const hostile = Object.create({ dataset: "patients" }) as Record<string, unknown>;
    hostile.kind = "count";
    expect(problem(() => analysisSpec(hostile, "a"))).toBe("a: expected a plain object");
  });
});

describe("ids and subjects", () => {
  it("makes time-ordered ULIDs that are valid subject tokens", () => {
    const a = newId(1_000_000);
    const b = newId(2_000_000);
    expect(isTaskId(a) && isTaskId(b)).toBe(true);
    expect(a < b).toBe(true);
    expect(idTime(b)).toBe(2_000_000);
  });

  it("refuses to build a subject from a token that could widen it", () => {
    expect(subjects.dispatch("a", newId())).toMatch(/^tremesh\.tre\.a\.in\.dispatch\.[0-9A-Z]{26}$/);
    expect(() => subjects.dispatch("a.*", newId())).toThrow(/TRE name/);
    expect(() => subjects.release("a", ">")).toThrow(/task id/);
  });
});

describe("released outputs' media types", () => {
  const now = Date.now();
  const release = (mediaType?: unknown): Release => {
    const output: Record<string, unknown> = {
      outputId: newId(now),
      name: "table.csv",
      digest: "0".repeat(64),
      data: new Uint8Array([1, 2, 3]),
    };
    if (mediaType !== undefined) output.mediaType = mediaType;
    return bodies.release(
      {
        id: newId(now),
        iat: now,
        exp: now + 1000,
        taskId: newId(now),
        tre: "north",
        decisions: [],
        outputs: [output],
        withheld: [],
      },
      "release",
    );
  };

  it("accepts an output without a media type (an output description, as before) and bare media types", () => {
    expect(release().outputs[0]?.mediaType).toBeUndefined();
    for (const t of ["text/csv", "image/png", "application/vnd.tremesh.output.v1+json", "Text/Plain"])
      expect(release(t).outputs[0]?.mediaType).toBe(t);
  });

  it("refuses parameters, paths, control characters and overlong media types, naming the field", () => {
    expect(problem(() => release("text/csv; charset=utf-8"))).toMatch(
      /^release\.outputs\[0\]\.mediaType: .* is not a media type \(type\/subtype\)$/,
    );
    for (const bad of ["text", "text/", "/csv", "text/csv/x", "../../x/y", "text/\u001b[2J", " text/csv"])
      expect(problem(() => release(bad))).toMatch(/^release\.outputs\[0\]\.mediaType: /);
    expect(problem(() => release(`text/${"x".repeat(124)}`))).toBe(
      "release.outputs[0].mediaType: must have at most 128 characters",
    );
    expect(problem(() => release(42))).toMatch(/^release\.outputs\[0\]\.mediaType: expected a string/);
  });
});

describe("status events", () => {
  const now = Date.now();
  const status = (extra: Record<string, unknown>) =>
    bodies.status(
      {
        id: newId(now),
        iat: now,
        exp: now + 1000,
        taskId: newId(now),
        tre: "a",
        state: "accepted",
        actor: "agent",
        ...extra,
      },
      "",
    );

  it("takes an event without an attempt, as every TRE sent before retries, as attempt 1's", () => {
    expect(status({}).attempt).toBeUndefined();
    expect(status({ attempt: 2 }).attempt).toBe(2);
  });

  it("refuses an attempt that is not a whole number from 1 up to MAX_ATTEMPT", () => {
    expect(problem(() => status({ attempt: 0 }))).toBe(`attempt: must be between 1 and ${MAX_ATTEMPT}`);
    expect(problem(() => status({ attempt: MAX_ATTEMPT + 1 }))).toBe(
      `attempt: must be between 1 and ${MAX_ATTEMPT}`,
    );
    expect(problem(() => status({ attempt: "2" }))).toBe('attempt: expected an integer, got "2"');
  });

  it("carries the steps taken on the way since the last event, each a known state with its time, and at most eight", () => {
    const passed = [
      { state: "received", at: now, reason: "dispatch verified" },
      { state: "accepted", at: now },
    ];
    expect(status({ state: "running", passed }).passed).toEqual(passed);
    expect(problem(() => status({ passed: [{ state: "done", at: now }] }))).toMatch(/^passed\[0\]\.state: /);
    expect(problem(() => status({ passed: [{ state: "received" }] }))).toMatch(/^passed\[0\]\.at: /);
    expect(
      status({ passed: [{ state: "outputs_pending_review", at: now, actor: "agent" }] }).passed?.[0]?.actor,
    ).toBe("agent");
    expect(problem(() => status({ passed: [{ state: "received", at: now, actor: "" }] }))).toMatch(
      /^passed\[0\]\.actor: /,
    );
    expect(status({ passed: Array(8).fill({ state: "received", at: now }) }).passed).toHaveLength(8);
    expect(problem(() => status({ passed: Array(9).fill({ state: "received", at: now }) }))).toMatch(
      /^passed: /,
    );
  });
});
