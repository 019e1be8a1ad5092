/**
 * A TRE's thresholds for the airlock's automated statistical disclosure control (SDC) checks: the
 * optional `disclosure` section of leaf.yaml. Every field has the default DESIGN.md names (the usual
 * output-checking rules of thumb for TREs), so a TRE that says nothing gets sensible checks, and a TRE
 * that wants stricter ones changes one number.
 *
 * @example
 * # leaf.yaml
 * disclosure:
 *   minCellCount: 10
 *   roundingBase: 5          # 1 turns rounding off
 *   dominance: { n: 2, k: 0.9 }
 *   minResidualDf: 10
 *   zerosDisclosive: true
 */
import { DOMINANCE_TOP_VALUES } from "../executors/index.js";
import { bool, FieldError, int, num, obj, optional } from "../protocol/index.js";

export interface DisclosureRules {
  /** A count (or summary n, or regression n) below it fails. Default 10. */
  minCellCount: number;
  /** Counts in the releasable form are rounded to a multiple of it, hiding ±1 differences. 1 = off. Default 5. */
  roundingBase: number;
  /**
   * A summary cell fails when its n largest contributors make up more than fraction k of its total.
   * n from 1 to 5 (the executors keep the five largest values), k in (0, 1]. Default n = 2, k = 0.9.
   */
  dominance: { n: number; k: number };
  /** A regression whose n − (number of terms) is below it fails: too few people per parameter. Default 10. */
  minResidualDf: number;
  /** Whether a zero count fails (it says "nobody here has X"); when false, zeros pass the minimum rule. Default true. */
  zerosDisclosive: boolean;
}

export const DEFAULT_DISCLOSURE_RULES: DisclosureRules = Object.freeze({
  minCellCount: 10,
  roundingBase: 5,
  dominance: Object.freeze({ n: 2, k: 0.9 }),
  minResidualDf: 10,
  zerosDisclosive: true,
});

/** Largest threshold accepted: far above any real rule, low enough to catch a typo of extra digits. */
const MAX_THRESHOLD = 1_000_000;

const section = obj({
  minCellCount: optional(int({ min: 1, max: MAX_THRESHOLD })),
  // The protocol's `rounding` marker allows 2..1000; 1 here means "do not round".
  roundingBase: optional(int({ min: 1, max: 1000 })),
  dominance: optional(obj({ n: optional(int({ min: 1, max: DOMINANCE_TOP_VALUES })), k: optional(num()) })),
  minResidualDf: optional(int({ min: 0, max: MAX_THRESHOLD })),
  zerosDisclosive: optional(bool()),
});

/**
 * Validates the `disclosure` section (undefined when leaf.yaml has none): every field optional,
 * defaults filled in, unknown fields refused. Throws FieldError naming the field under `path`.
 */
export function disclosureRules(value: unknown, path: string): DisclosureRules {
  const at = (field: string) => (path ? `${path}.${field}` : field);
  const given = value === undefined ? {} : section(value, path);
  const d = DEFAULT_DISCLOSURE_RULES;
  const k = given.dominance?.k ?? d.dominance.k;
  if (!(k > 0 && k <= 1)) throw new FieldError(at("dominance.k"), "must be a fraction above 0 and at most 1");
  return {
    minCellCount: given.minCellCount ?? d.minCellCount,
    roundingBase: given.roundingBase ?? d.roundingBase,
    dominance: { n: given.dominance?.n ?? d.dominance.n, k },
    minResidualDf: given.minResidualDf ?? d.minResidualDf,
    zerosDisclosive: given.zerosDisclosive ?? d.zerosDisclosive,
  };
}
