/**
 * docs/analyses.md shows a researcher how to write each analysis. Every JSON example in it must pass the protocol's
 * validation, and every built-in one must compile against the demo's `patients` dataset as a TRE defines it, so that
 * what the page teaches is what a TRE runs.
 */
import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { compile, type DatasetDefinition } from "../executors/index.js";
import { SYNTHETIC_PATIENT_COLUMNS, SYNTHETIC_PATIENT_IDENTIFIERS } from "../fixtures/index.js";
import { analysisSpec } from "../protocol/index.js";

const patients: DatasetDefinition = {
  name: "patients",
  engine: "csv",
  path: "./patients.csv",
  columns: { ...SYNTHETIC_PATIENT_COLUMNS },
  identifiers: [...SYNTHETIC_PATIENT_IDENTIFIERS],
};

async function examples(): Promise<unknown[]> {
  const page = await readFile(new URL("../docs/analyses.md", import.meta.url), "utf8");
  return [...page.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!));
}

describe("docs/analyses.md", () => {
  it("shows every kind of analysis, each example valid, and each built-in one compiling on the demo's dataset", async () => {
    const shown = await examples();
    const kinds = new Set<string>();
    for (const example of shown) {
      const spec = analysisSpec(example, "analysis");
      kinds.add(spec.kind);
      if (spec.kind !== "container") expect(compile(spec, patients).sql).toMatch(/^SELECT /);
    }
    expect([...kinds].sort()).toEqual([
      "container",
      "count",
      "crosstab",
      "histogram",
      "regression",
      "summary",
    ]);
  });

  it("quotes the refusal of an unknown field as the validator words it", async () => {
    const page = await readFile(new URL("../docs/analyses.md", import.meta.url), "utf8");
    const quoted = /`(analysis\.columns: is not a known field[^`]*)`/.exec(page)?.[1];
    expect(quoted).toBeDefined();
    expect(() =>
      analysisSpec({ kind: "crosstab", dataset: "patients", rows: "sex", columns: "region" }, "analysis"),
    ).toThrow(quoted);
  });
});
