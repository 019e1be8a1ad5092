/**
 * The profile's names and the shape of a validation report, apart from the validator itself: building a crate
 * needs these, and must not load the JSON-LD and SHACL engines (half a second) that only validating needs.
 */

/** The profile a Five Safes crate conforms to. */
export const FIVE_SAFES_PROFILE = "https://w3id.org/5s-crate/0.4";

/** The IRI crates are parsed with, so `./` and relative ids become absolute. */
export const CRATE_BASE_IRI = "arcp://name,tremesh-crate/";

/** REQUIRED = sh:Violation, RECOMMENDED = sh:Warning, OPTIONAL = sh:Info. */
export type FindingLevel = "REQUIRED" | "RECOMMENDED" | "OPTIONAL";

export interface Finding {
  level: FindingLevel;
  /** The entity at fault, as the crate names it (`./`, `#signoff-1`), or "" for the crate itself. */
  entity: string;
  /** The property at fault (a schema.org IRI), when the rule is about one. */
  property?: string;
  message: string;
}

export interface ValidationReport {
  findings: Finding[];
  /** How many findings at each level. */
  counts: Record<FindingLevel, number>;
}
