import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DataFactory, Parser, type Quad_Subject, Store } from "n3";
import { assetDir } from "./assets.js";

const { namedNode, blankNode, literal, quad } = DataFactory;

const SH = "http://www.w3.org/ns/shacl#";
const RDF_TYPE = namedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type");
const sh = (local: string) => namedNode(SH + local);

/** The requirement levels of the profile, as the shapes' folders and their default severity. */
export const LEVELS = [
  { folder: "must", severity: sh("Violation") },
  { folder: "should", severity: sh("Warning") },
  { folder: "may", severity: sh("Info") },
] as const;

const TARGET_PREDICATES = ["targetClass", "targetNode", "targetSubjectsOf", "targetObjectsOf", "target"].map(
  sh,
);

/**
 * Prefixes that the reference validator's SPARQL engine (rdflib) knows without a declaration; some
 * shapes use `rdf:` without declaring it, which a standard SPARQL parser refuses.
 */
const IMPLICIT_PREFIXES: Readonly<Record<string, string>> = {
  rdf: "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
  rdfs: "http://www.w3.org/2000/01/rdf-schema#",
  xsd: "http://www.w3.org/2001/XMLSchema#",
  owl: "http://www.w3.org/2002/07/owl#",
};

/**
 * Loads the Five Safes RO-Crate 0.4 shapes (crate/profile) into one shapes graph, made ready for a
 * standard SHACL engine the way the reference validator reads them:
 * - every shape without `sh:severity` gets its folder's (must → Violation, should → Warning,
 *   may → Info);
 * - `ro:` and the `sh:namespace "./"` declaration resolve against `baseIri`, the IRI crates are
 *   parsed with;
 * - a SPARQL query using `rdf:`, `rdfs:`, `xsd:` or `owl:` without declaring it gets the declaration;
 * - a node shape with several `sh:sparql` constraints is split into one shape per constraint, since
 *   the engine would otherwise merge them into one (and report a false violation).
 */
export function loadProfileShapes(baseIri: string): Store {
  const root = assetDir("profile");
  const store = new Store();
  const files: Array<{ path: string; severity?: ReturnType<typeof sh> }> = [
    { path: join(root, "ro-crate-prefixes.ttl") },
  ];
  for (const level of LEVELS) {
    for (const name of readdirSync(join(root, level.folder)).sort()) {
      if (name.endsWith(".ttl"))
        files.push({ path: join(root, level.folder, name), severity: level.severity });
    }
  }
  for (const file of files) {
    const parsed = new Store(new Parser({ baseIRI: baseIri }).parse(readFileSync(file.path, "utf8")));
    if (file.severity) defaultSeverity(parsed, file.severity);
    store.addQuads(parsed.getQuads(null, null, null, null));
  }
  resolveRelativeNamespaces(store, baseIri);
  declareImplicitPrefixes(store);
  splitSparqlConstraints(store);
  return store;
}

function defaultSeverity(store: Store, severity: ReturnType<typeof sh>): void {
  const shapes = new Map<string, Quad_Subject>();
  for (const kind of ["NodeShape", "PropertyShape"]) {
    for (const s of store.getSubjects(RDF_TYPE, sh(kind), null)) shapes.set(s.id, s as Quad_Subject);
  }
  for (const p of [...TARGET_PREDICATES, sh("sparql"), sh("property")]) {
    for (const q of store.getQuads(null, p, null, null)) {
      shapes.set(q.subject.id, q.subject);
      if (p.equals(sh("property"))) shapes.set(q.object.id, q.object as Quad_Subject);
    }
  }
  for (const shape of shapes.values()) {
    if (store.getQuads(shape, sh("severity"), null, null).length === 0) {
      store.addQuad(quad(shape, sh("severity"), severity));
    }
  }
}

function resolveRelativeNamespaces(store: Store, baseIri: string): void {
  for (const q of store.getQuads(null, sh("namespace"), null, null)) {
    if (q.object.termType === "Literal" && !/^[a-z][a-z0-9+.-]*:/i.test(q.object.value)) {
      store.removeQuad(q);
      const resolved = new URL(q.object.value, baseIri).href;
      store.addQuad(quad(q.subject, q.predicate, literal(resolved, q.object.datatype)));
    }
  }
}

function declareImplicitPrefixes(store: Store): void {
  for (const q of store.getQuads(null, sh("select"), null, null)) {
    const text = q.object.value;
    const missing = Object.entries(IMPLICIT_PREFIXES).filter(
      ([prefix]) =>
        new RegExp(`(^|[\\s(/^|])${prefix}:`).test(text) &&
        !new RegExp(`PREFIX\\s+${prefix}:`, "i").test(text),
    );
    if (missing.length === 0) continue;
    const header = missing.map(([prefix, iri]) => `PREFIX ${prefix}: <${iri}>`).join("\n");
    store.removeQuad(q);
    store.addQuad(quad(q.subject, q.predicate, literal(`${header}\n${text}`), q.graph));
  }
}

function splitSparqlConstraints(store: Store): void {
  const bySubject = new Map<string, ReturnType<Store["getQuads"]>>();
  for (const q of store.getQuads(null, sh("sparql"), null, null)) {
    bySubject.set(q.subject.id, [...(bySubject.get(q.subject.id) ?? []), q]);
  }
  for (const constraints of bySubject.values()) {
    if (constraints.length < 2) continue;
    const shape = constraints[0]?.subject;
    if (!shape) continue;
    const carried = [...TARGET_PREDICATES, sh("severity"), sh("deactivated"), sh("name")].flatMap((p) =>
      store.getQuads(shape, p, null, null),
    );
    for (const constraint of constraints) {
      store.removeQuad(constraint);
      const part = blankNode();
      store.addQuad(quad(part, RDF_TYPE, sh("NodeShape")));
      for (const c of carried) store.addQuad(quad(part, c.predicate, c.object));
      store.addQuad(quad(part, sh("sparql"), constraint.object));
    }
  }
}
