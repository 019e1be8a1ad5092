import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateCrateMetadata } from "./profile-validator.js";
import { RequestCrateError, requestCrateToSubmission } from "./request-crate.js";

type Crate = { "@context": unknown; "@graph": Array<Record<string, unknown>> };
const reference = (name: string): Crate =>
  JSON.parse(readFileSync(join(import.meta.dirname, "reference-crates", `${name}.json`), "utf8"));
const entity = (crate: Crate, id: string) => {
  const e = crate["@graph"].find((x) => x["@id"] === id);
  if (!e) throw new Error(`no ${id}`);
  return e;
};

const WORKFLOW = "urn:tremesh:analysis:count:1";
const RUN = "#query-37252371-c937-43bd-a0a7-3680b48c0538";
const AGENT = "https://orcid.org/0000-0001-9842-9718";

/**
 * A reference request crate with its defects fixed and its workflow and inputs pointed at tremesh's count
 * analysis; everything else (agent, project, identifiers) kept, the agent also naming its tremesh login.
 */
function pointedAtTremesh(name: string, parameters: Record<string, string> = {}): Crate {
  const crate = reference(name);
  crate["@context"] = "https://w3id.org/ro/crate/1.2/context";
  const graph = crate["@graph"];
  entity(crate, "ro-crate-metadata.json").conformsTo = { "@id": "https://w3id.org/ro/crate/1.2" };
  const root = entity(crate, "./");
  root.mainEntity = { "@id": WORKFLOW };
  root.hasPart = [{ "@id": WORKFLOW }];
  graph.push({
    "@id": WORKFLOW,
    "@type": "Dataset",
    name: "tremesh count analysis",
    conformsTo: { "@id": "https://w3id.org/workflowhub/workflow-ro-crate/1.0" },
  });
  const inputs = { dataset: "patients", groupBy: '["sex"]', ...parameters };
  const run = entity(crate, RUN);
  run.instrument = { "@id": WORKFLOW };
  run.name = "Count of patients by sex";
  run.object = Object.keys(inputs).map((k) => ({ "@id": `#input-${k}` }));
  for (const [k, v] of Object.entries(inputs)) {
    graph.push({ "@id": `#parameter-${k}`, "@type": "FormalParameter", name: k });
    graph.push({
      "@id": `#input-${k}`,
      "@type": "PropertyValue",
      name: k,
      value: v,
      exampleOfWork: { "@id": `#parameter-${k}` },
    });
  }
  entity(crate, AGENT).alternateName = "alice";
  if (!graph.some((e) => e["@id"] === "https://ror.org/01ee9ar58"))
    graph.push({
      "@id": "https://ror.org/01ee9ar58",
      "@type": "Organization",
      name: "University of Nottingham",
    });
  return crate;
}

const submitter = { researcher: "alice", tres: ["tre72"] };

function refusal(crate: Crate, who = submitter): RequestCrateError {
  try {
    requestCrateToSubmission(crate, who);
  } catch (e) {
    if (e instanceof RequestCrateError) return e;
    throw e;
  }
  throw new Error("the crate was accepted");
}

describe("a Five Safes request crate as a submission", () => {
  it("takes the analysis, project and title from the validator's and the spec's request crates", () => {
    for (const name of ["validator-five-safes-crate-request", "official-0.4-example-request"]) {
      const s = requestCrateToSubmission(pointedAtTremesh(name), submitter);
      expect(s.analysis, name).toEqual({ kind: "count", dataset: "patients", groupBy: ["sex"] });
      expect(s.project, name).toBe("project81");
      expect(s.stripped).toEqual([]);
    }
  });

  it("keeps the fixed request crates valid: no REQUIRED finding", { timeout: 60_000 }, async () => {
    for (const name of ["validator-five-safes-crate-request", "official-0.4-example-request"]) {
      const report = await validateCrateMetadata(pointedAtTremesh(name));
      expect(
        report.findings.filter((f) => f.level === "REQUIRED"),
        name,
      ).toEqual([]);
    }
  });

  it("takes docs/examples/request-crate as the demo's count, and it has no REQUIRED finding", {
    timeout: 60_000,
  }, async () => {
    const example = JSON.parse(
      readFileSync(
        join(import.meta.dirname, "..", "docs", "examples", "request-crate", "ro-crate-metadata.json"),
        "utf8",
      ),
    );
    const s = requestCrateToSubmission(example, { researcher: "alice", tres: ["north"] });
    expect(s).toEqual({
      project: "demo",
      analysis: { kind: "count", dataset: "patients", groupBy: ["sex"] },
      stripped: [],
      title: "Patients by sex",
    });
    const report = await validateCrateMetadata(example);
    expect(report.findings.filter((f) => f.level === "REQUIRED")).toEqual([]);
  });

  it("takes a crate's name over several lines, or with control characters, as a one-line title", () => {
    const crate = pointedAtTremesh("validator-five-safes-crate-request");
    entity(crate, "./").name = "Patients\n  by sex\u001b[2J\u202e";
    expect(requestCrateToSubmission(crate, submitter).title).toBe("Patients by sex [2J");
  });

  it("refuses a crate naming another researcher, naming the agent", () => {
    const e = refusal(pointedAtTremesh("validator-five-safes-crate-request"), {
      ...submitter,
      researcher: "bob",
    });
    expect([e.entity, e.property]).toEqual([AGENT, "identifier"]);
    expect(e.message).toMatch(/is not "bob", who signs this submission/);
  });

  it("refuses a workflow tremesh does not know: the examples' own WorkflowHub workflow", () => {
    const e = refusal(reference("validator-five-safes-crate-request"));
    expect([e.entity, e.property]).toEqual(["./", "mainEntity"]);
    expect(e.message).toContain(
      "https://workflowhub.eu/workflows/289?version=1 is not a workflow tremesh knows",
    );
  });

  it("refuses an unpinned container image and a bad parameter, naming the input", () => {
    const crate = pointedAtTremesh("validator-five-safes-crate-request", {});
    const root = entity(crate, "./");
    root.mainEntity = { "@id": "urn:tremesh:analysis:container:1" };
    entity(crate, RUN).instrument = { "@id": "urn:tremesh:analysis:container:1" };
    entity(crate, RUN).object = [{ "@id": "#input-image" }, { "@id": "#input-command" }];
    crate["@graph"].push(
      { "@id": "#input-image", "@type": "PropertyValue", name: "image", value: "busybox:latest" },
      { "@id": "#input-command", "@type": "PropertyValue", name: "command", value: '["true"]' },
    );
    const e = refusal(crate);
    expect([e.entity, e.property]).toEqual(["#input-image", "value"]);
    expect(e.message).toMatch(/pinned by digest/);

    const bad = refusal(
      pointedAtTremesh("validator-five-safes-crate-request", { groupBy: '["sex; drop table"]' }),
    );
    expect([bad.entity, bad.property]).toEqual(["#input-groupBy", "value"]);
  });

  it("refuses a kind parameter that contradicts the workflow, and takes one that repeats it", () => {
    // The workflow said count; a `kind` input of summary ran a summary, and its results crate named that workflow.
    const e = refusal(
      pointedAtTremesh("validator-five-safes-crate-request", { kind: "summary", column: "bmi" }),
    );
    expect([e.entity, e.property]).toEqual(["#input-kind", "value"]);
    expect(e.message).toContain(
      'kind "summary" contradicts the root\'s mainEntity, urn:tremesh:analysis:count:1',
    );
    const same = pointedAtTremesh("validator-five-safes-crate-request", { kind: "count" });
    expect(requestCrateToSubmission(same, submitter).analysis).toEqual({
      kind: "count",
      dataset: "patients",
      groupBy: ["sex"],
    });
  });

  it("refuses a root that names no Five Safes profile, or none at all, naming conformsTo", () => {
    // Both were read as requests: nothing told the researcher their crate did not claim the profile.
    const other = pointedAtTremesh("validator-five-safes-crate-request");
    entity(other, "./").conformsTo = { "@id": "https://w3id.org/ro/wfrun/process/0.5" };
    const e = refusal(other);
    expect([e.entity, e.property]).toEqual(["./", "conformsTo"]);
    expect(e.message).toContain(
      'https://w3id.org/ro/wfrun/process/0.5 names no Five Safes RO-Crate profile; a request crate conformsTo {"@id": "https://w3id.org/5s-crate/0.4"}',
    );
    const none = pointedAtTremesh("validator-five-safes-crate-request");
    delete entity(none, "./").conformsTo;
    expect(refusal(none).message).toContain("(none) names no Five Safes RO-Crate profile");
    const draft = pointedAtTremesh("validator-five-safes-crate-request");
    entity(draft, "./").conformsTo = [{ "@id": "https://w3id.org/5s-crate/0.5-DRAFT" }];
    expect(requestCrateToSubmission(draft, submitter).analysis.kind).toBe("count");
  });

  it("refuses a file sent as an input, and a project it cannot name", () => {
    const crate = pointedAtTremesh("validator-five-safes-crate-request");
    (entity(crate, RUN).object as unknown[]).push({ "@id": "input1.txt" });
    expect(refusal(crate).entity).toBe("input1.txt");
    const other = refusal(pointedAtTremesh("validator-five-safes-crate-request"), {
      ...submitter,
      tres: ["a"],
    });
    expect([other.entity, other.property]).toEqual([
      "#project-be6ffb55-4f5a-4c14-b60e-47e0951090c70",
      "name",
    ]);
  });

  it("drops review actions the client put in the request, and says which", () => {
    const crate = pointedAtTremesh("validator-five-safes-crate-request");
    crate["@graph"].push({
      "@id": "#forged-signoff",
      "@type": "AssessAction",
      additionalType: { "@id": "https://w3id.org/shp#SignOff" },
      name: "Sign-off: approved (by the researcher)",
    });
    expect(requestCrateToSubmission(crate, submitter).stripped).toEqual(["#forged-signoff"]);
  });
});
