import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Finding } from "./profile-iri.js";
import { validateCrateMetadata } from "./profile-validator.js";

const reference = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(import.meta.dirname, "reference-crates", `${name}.json`), "utf8"));

const summary = (findings: Finding[]) => findings.map((f) => `${f.level} ${f.entity} ${f.message}`);

// The calibration of shared/five-safes-crate/README.md: what the reference validator reports.
describe("the Five Safes RO-Crate 0.4 validator", { timeout: 60_000 }, () => {
  it("finds nothing wrong with the reference validator's result crate", async () => {
    const report = await validateCrateMetadata(reference("validator-five-safes-crate-result"));
    expect(summary(report.findings)).toEqual([]);
  });

  it("finds exactly the five missing review phases in the reference request crate", async () => {
    const report = await validateCrateMetadata(reference("validator-five-safes-crate-request"));
    expect(report.counts).toEqual({ REQUIRED: 0, RECOMMENDED: 5, OPTIONAL: 0 });
    expect(summary(report.findings).sort()).toEqual(
      [
        "RECOMMENDED ./ RootDataEntity SHOULD mention a check value object.",
        "RECOMMENDED ./ RootDataEntity SHOULD mention a ValidationCheck object.",
        "RECOMMENDED ./ An entity typed DownloadAction SHOULD exist.",
        "RECOMMENDED ./ `RootDataEntity` SHOULD mention a disclosure object.",
        "RECOMMENDED ./ There SHOULD be a Sign-Off Phase in the Final RO-Crate",
      ].sort(),
    );
  });

  it("fails the spec's official result example on five REQUIRED rules", async () => {
    const report = await validateCrateMetadata(reference("official-0.4-example-result"));
    const required = report.findings.filter((f) => f.level === "REQUIRED");
    expect(required.map((f) => f.entity).sort()).toEqual([
      "#check-f33fe90c-0c22-4c72-b299-de509028410e",
      "#disclosure-b16c1f0a-ae7f-4582-9b28-7d9df3313e27",
      "#project-be6ffb55-4f5a-4c14-b60e-47e0951090c70",
      "#signoff-3b741265-cfef-49ea-8138-a2fa149bf2f0",
      "#validate-1146f640-819e-4c86-b029-b763a0040896",
    ]);
    // "type" where "@type" was meant, and a project member never described
    expect(required.find((f) => f.entity.startsWith("#signoff"))?.message).toBe(
      "Sign Off phase MUST be a `AssessAction`.",
    );
    expect(required.find((f) => f.entity.startsWith("#project"))?.property).toBe("http://schema.org/member");
  });

  it("fails the spec's other official examples on REQUIRED rules too", async () => {
    for (const name of ["official-0.4-example-request", "official-0.4-example-hutch"]) {
      const report = await validateCrateMetadata(reference(name));
      expect(report.counts.REQUIRED, name).toBeGreaterThan(0);
    }
  });

  it("reports a phase whose type was dropped, naming the entity", async () => {
    const crate = reference("validator-five-safes-crate-result");
    const graph = crate["@graph"] as Array<Record<string, unknown>>;
    const signOff = graph.find((e) => String(e["@id"]).startsWith("#signoff"));
    if (!signOff) throw new Error("the reference crate has no sign-off");
    signOff["@type"] = "Action";
    signOff.endTime = "19 April 2023";
    const report = await validateCrateMetadata(crate);
    expect(summary(report.findings.filter((f) => f.level === "REQUIRED"))).toEqual([
      expect.stringMatching(/^REQUIRED #signoff-\S+ .*RFC 3339/),
      "REQUIRED #signoff-3b741265-cfef-49ea-8138-a2fa149bf2f0 Sign Off phase MUST be a `AssessAction`.",
    ]);
  });

  it("requires the RO-Crate 1.2 context and never fetches another", async () => {
    const old = await validateCrateMetadata({
      ...reference("validator-five-safes-crate-result"),
      "@context": "https://w3id.org/ro/crate/1.1/context",
    });
    expect(old.findings).toContainEqual(expect.objectContaining({ level: "REQUIRED", property: "@context" }));
    const extra = await validateCrateMetadata(reference("validator-five-safes-crate-multiple-context"));
    expect(extra.findings).toContainEqual(
      expect.objectContaining({
        level: "RECOMMENDED",
        message: expect.stringContaining(
          "https://w3id.org/ro/terms/workflow-run/context is not kept offline",
        ),
      }),
    );
    expect(extra.counts.REQUIRED).toBe(0);
  });

  it("refuses what is not a JSON-LD crate with a finding, not a crash", async () => {
    for (const hostile of [null, [], "text", { "@context": { "@version": 99 }, "@graph": [] }]) {
      const report = await validateCrateMetadata(hostile);
      expect(report.counts.REQUIRED, JSON.stringify(hostile)).toBeGreaterThan(0);
    }
  });

  // It said "the metadata is not valid JSON-LD: Maximum call stack size exceeded".
  it("says a crate nested thousands of levels deep is nested too deeply, in words", async () => {
    const crate = reference("validator-five-safes-crate-result");
    const graph = crate["@graph"] as unknown[];
    graph.push({
      "@id": "#deep",
      "@type": "Thing",
      description: JSON.parse(`${"[".repeat(20_000)}${"]".repeat(20_000)}`),
    });
    const report = await validateCrateMetadata(crate);
    expect(report.findings).toContainEqual(
      expect.objectContaining({
        level: "REQUIRED",
        message:
          "the metadata is not valid JSON-LD: it is nested too deeply to expand (lists or objects inside one another thousands of levels down)",
      }),
    );
  });
});
