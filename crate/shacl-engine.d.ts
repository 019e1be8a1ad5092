// shacl-engine ships no type declarations; these cover the part crate/ uses.
declare module "shacl-engine" {
  import type { DataFactory, DatasetCore, Term } from "@rdfjs/types";
  export interface ShaclResult {
    severity: Term;
    focusNode: { term: Term };
    path: Array<{ predicates: Term[] }> | null;
    message: Term[];
    shape: { ptr: { term: Term } };
    value?: { term?: Term } | null;
  }
  export interface ShaclReport {
    conforms: boolean;
    results: ShaclResult[];
  }
  export class Validator {
    constructor(
      shapes: DatasetCore,
      options: { factory: DataFactory; targetResolvers?: unknown; validations?: unknown },
    );
    validate(data: { dataset: DatasetCore }): Promise<ShaclReport>;
  }
}
declare module "shacl-engine/sparql.js" {
  export const targetResolvers: unknown;
  export const validations: unknown;
}
