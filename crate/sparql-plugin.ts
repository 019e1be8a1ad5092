/**
 * SPARQL-based targets and constraints for shacl-engine, as its own `shacl-engine/sparql.js` plugin
 * does them, but with one Comunica query engine for every query: the plugin builds a new engine per
 * query, which made validating one crate take seconds. Same semantics: `$this` pre-bound, the
 * `sh:prefixes` declarations prepended, one violation per result row (its `?value` when bound).
 */
import { Readable } from "node:stream";
import { QueryEngine } from "@comunica/query-sparql-rdfjs-lite";
import { BindingsFactory } from "@comunica/utils-bindings-factory";
import type { DatasetCore, Quad, Term } from "@rdfjs/types";
import { DataFactory } from "n3";

const { namedNode, variable } = DataFactory;
const sh = (local: string) => namedNode(`http://www.w3.org/ns/shacl#${local}`);

/** The parts of shacl-engine's grapoi pointers this plugin reads. */
interface Pointer {
  term: Term;
  terms: Term[];
  value: string;
  dataset: DatasetCore;
  out(predicates: Term[]): Pointer;
  node(terms: Term[]): Pointer;
  [Symbol.iterator](): Iterator<Pointer>;
}

interface ValidationContext {
  focusNode: Pointer;
  violation(component: Term, args: Record<string, unknown>): void;
}

let engine: QueryEngine | undefined;

async function select(dataset: DatasetCore, query: string, bindings: Array<[Term, Term]>) {
  engine ??= new QueryEngine();
  const source = {
    match: (s: Term | null, p: Term | null, o: Term | null, g: Term | null) =>
      Readable.from(dataset.match(s as never, p as never, o as never, g as never) as Iterable<Quad>),
  };
  const initialBindings = new BindingsFactory(DataFactory as never).bindings(bindings as never);
  const stream = await engine.queryBindings(query, { sources: [source as never], initialBindings });
  return stream.toArray();
}

function prefixes(ptr: Pointer): string[] {
  const out: string[] = [];
  for (const imported of ptr.out([namedNode("http://www.w3.org/2002/07/owl#imports")]))
    out.push(...prefixes(imported));
  for (const declared of ptr.out([sh("declare")]))
    out.push(`PREFIX ${declared.out([sh("prefix")]).value}: <${declared.out([sh("namespace")]).value}>`);
  return out;
}

async function sparqlTarget(target: Pointer, context: { focusNode: Pointer }): Promise<Term[]> {
  const query = target.out([sh("select")]).value;
  if (!query) return [];
  const rows = await select(context.focusNode.dataset, query, []);
  return rows.map((row) => row.get(variable("this")) as Term | undefined).filter((t): t is Term => !!t);
}

function sparqlConstraint(shape: { sparql: Pointer }) {
  const constraint = shape.sparql;
  const query = [...prefixes(constraint.out([sh("prefixes")])), constraint.out([sh("select")]).value].join(
    "\n",
  );
  const message = constraint.out([sh("message")]).terms;
  return {
    generic: async (context: ValidationContext) => {
      const focus = context.focusNode;
      const rows = await select(focus.dataset, query, [[variable("this"), focus.term]]);
      for (const row of rows) {
        const args = Object.fromEntries([...row].map(([k, v]) => [k.value, v]));
        const value = focus.node([(row.get(variable("value")) as Term | undefined) ?? focus.term]);
        context.violation(sh("SPARQLConstraintComponent"), {
          args,
          message,
          source: constraint.terms,
          value,
        });
      }
    },
  };
}

/** For shacl-engine's `Validator` options `targetResolvers` and `validations`. */
export const targetResolvers = new Map([[sh("target"), sparqlTarget]]);
export const validations = new Map([[sh("sparql"), sparqlConstraint]]);
