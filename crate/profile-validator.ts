import jsonld from "jsonld";
import { DataFactory, Parser, Store } from "n3";
import { Validator } from "shacl-engine";
import { offlineContextLoader } from "./context-loader.js";
import { CRATE_BASE_IRI, type Finding, type FindingLevel, type ValidationReport } from "./profile-iri.js";
import { loadProfileShapes } from "./profile-shapes.js";
import { targetResolvers, validations } from "./sparql-plugin.js";

const { namedNode, quad } = DataFactory;

const SEVERITY_LEVEL: Readonly<Record<string, FindingLevel>> = {
  "http://www.w3.org/ns/shacl#Violation": "REQUIRED",
  "http://www.w3.org/ns/shacl#Warning": "RECOMMENDED",
  "http://www.w3.org/ns/shacl#Info": "OPTIONAL",
};

const ROCRATE_PROFILE = "https://github.com/crs4/rocrate-validator/profiles/ro-crate/";
const RDF_TYPE = namedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
const SCHEMA_ABOUT = namedNode("http://schema.org/about");
const CONTEXT_RE = /^https:\/\/w3id\.org\/ro\/crate\/1\.[2-9](-DRAFT)?\/context$/;

let validator: Validator | undefined;

function profileValidator(): Validator {
  validator ??= new Validator(loadProfileShapes(CRATE_BASE_IRI), {
    factory: DataFactory,
    targetResolvers,
    validations,
  });
  return validator;
}

/**
 * Validates the JSON-LD of a crate's `ro-crate-metadata.json` against the Five Safes RO-Crate 0.4
 * profile (crate/profile) with a SHACL engine, offline: the RO-Crate contexts come from
 * crate/contexts, any other context is a REQUIRED finding.
 *
 * @example
 * const { counts } = await validateCrateMetadata(JSON.parse(text));
 * if (counts.REQUIRED + counts.RECOMMENDED > 0) …
 */
export async function validateCrateMetadata(metadata: unknown): Promise<ValidationReport> {
  const findings: Finding[] = [];
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return report([{ level: "REQUIRED", entity: "", message: "the metadata is not a JSON object" }]);
  }
  const context = (metadata as Record<string, unknown>)["@context"];
  const contexts = Array.isArray(context) ? context : [context];
  if (!contexts.some((c) => typeof c === "string" && CONTEXT_RE.test(c))) {
    findings.push({
      level: "REQUIRED",
      entity: "",
      property: "@context",
      message: "the @context must be the RO-Crate 1.2 (or later) context",
    });
  }
  const unknownContexts = new Set<string>();
  let dataset: Store;
  try {
    dataset = await toDataset(metadata, unknownContexts);
  } catch (error) {
    const message = `the metadata is not valid JSON-LD: ${jsonldProblem(error)}`;
    return report([...findings, { level: "REQUIRED", entity: "", property: "@context", message }]);
  }
  for (const url of unknownContexts) {
    findings.push({
      level: "RECOMMENDED",
      entity: "",
      property: "@context",
      message: `context ${url} is not kept offline (only the RO-Crate contexts are): terms only it defines were not checked`,
    });
  }
  const result = await profileValidator().validate({ dataset });
  for (const r of result.results) {
    const level = SEVERITY_LEVEL[r.severity.value];
    if (level === undefined) continue;
    const predicate = r.path?.[0]?.predicates[0]?.value;
    findings.push({
      level,
      entity: entityName(r.focusNode.term.value),
      ...(predicate === undefined ? {} : { property: predicate }),
      message: r.message[0]?.value ?? "violates a profile rule",
    });
  }
  return report(findings);
}

async function toDataset(metadata: object, unknownContexts: Set<string>): Promise<Store> {
  const nquads = (await jsonld.toRDF(metadata as jsonld.JsonLdDocument, {
    base: CRATE_BASE_IRI,
    format: "application/n-quads",
    documentLoader: offlineContextLoader(unknownContexts) as never,
  })) as unknown as string;
  const store = new Store(new Parser({ format: "N-Quads" }).parse(nquads));
  // The reference validator types the descriptor and the entity it is about; shapes target those.
  const descriptor = namedNode(new URL("ro-crate-metadata.json", CRATE_BASE_IRI).href);
  store.addQuad(quad(descriptor, RDF_TYPE, namedNode(`${ROCRATE_PROFILE}ROCrateMetadataFileDescriptor`)));
  for (const root of store.getObjects(descriptor, SCHEMA_ABOUT, null)) {
    if (root.termType === "NamedNode" || root.termType === "BlankNode") {
      store.addQuad(quad(root, RDF_TYPE, namedNode(`${ROCRATE_PROFILE}RootDataEntity`)));
    }
  }
  return store;
}

function entityName(iri: string): string {
  return iri.startsWith(CRATE_BASE_IRI) ? iri.slice(CRATE_BASE_IRI.length) || "./" : iri;
}

function jsonldProblem(error: unknown): string {
  // The JSON-LD expansion recurses once per level: a hostile crate's deep nesting exhausts the stack.
  if (error instanceof RangeError && /call stack/i.test(error.message))
    return "it is nested too deeply to expand (lists or objects inside one another thousands of levels down)";
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/** One finding per rule broken: a property rule failing two ways (missing, wrong value) is one. */
function report(all: Finding[]): ValidationReport {
  const seen = new Set<string>();
  const findings = all.filter((f) => {
    const key = JSON.stringify([f.level, f.entity, f.property, f.message]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  const counts: Record<FindingLevel, number> = { REQUIRED: 0, RECOMMENDED: 0, OPTIONAL: 0 };
  for (const f of findings) counts[f.level] += 1;
  return { findings, counts };
}
