/**
 * The private companion query of a summary: per group, the total of |v| and the largest |v| over the
 * same rows the summary reads (same filters, same groups, non-null values only). The airlock's
 * dominance rule needs them because a summary releases n·mean, the cell's total, and a total made
 * mostly of one or two people's values discloses them. Its result never leaves the TRE.
 *
 * Built like the main statement: names only from the allow-list, quoted; filter values only as bound
 * parameters, through the same filter compiler, so the two queries cannot disagree on which rows count.
 *
 * @example
 * compileDominance({ kind: "summary", dataset: "patients", column: "bmi", groupBy: ["sex"] }, patients).sql
 * // SELECT k0, total, a FROM (SELECT k0, abs(v) AS a, sum(abs(v)) OVER (PARTITION BY k0) AS total,
 * //   row_number() OVER (PARTITION BY k0 ORDER BY abs(v) DESC) AS r
 * //   FROM (SELECT "sex" AS k0, CAST("bmi" AS DOUBLE PRECISION) AS v FROM "public"."patients") AS s
 * //   WHERE v IS NOT NULL) AS t WHERE r <= 5
 */
import type { AnalysisSpec } from "../../protocol/index.js";
import { DOMINANCE_TOP_VALUES } from "../executor.js";
import { compileFilters, resolveColumn } from "./compile-filters.js";
import type { DatasetDefinition } from "./dataset.js";
import { asDouble, Params, quoteIdent, tableRef } from "./sql-text.js";

export interface CompiledDominance {
  /** Result columns: one per group-by column (k0…), then total, then one of the largest |v| (a). */
  sql: string;
  params: (string | number | boolean)[];
}

type SummarySpec = Extract<AnalysisSpec, { kind: "summary" }>;

/**
 * The dominance query of a summary the main compiler has already accepted. Columns are resolved
 * again anyway: this is a second statement, and the allow-list stays its only source of names.
 */
export function compileDominance(spec: SummarySpec, dataset: DatasetDefinition): CompiledDominance {
  resolveColumn(dataset, spec.column, "column", ["numeric"], "a summary");
  const keys = (spec.groupBy ?? []).map((g, i) => {
    resolveColumn(dataset, g, `groupBy[${i}]`, ["categorical", "boolean"], "group by");
    return quoteIdent(g);
  });
  const params = new Params();
  const { where } = compileFilters(spec.filters, dataset, params);
  const aliases = keys.map((_, i) => `k${i}`);
  const inner = [...keys.map((k, i) => `${k} AS ${aliases[i]}`), `${asDouble(spec.column, "numeric")} AS v`];
  const partition = aliases.length === 0 ? "" : `PARTITION BY ${aliases.join(", ")}`;
  // Ties between equal |v| may rank either way: the values listed are the same whichever wins.
  const ranked = [
    ...aliases,
    "abs(v) AS a",
    `sum(abs(v)) OVER (${partition}) AS total`,
    `row_number() OVER (${partition}${partition ? " " : ""}ORDER BY abs(v) DESC) AS r`,
  ];
  const sql =
    `SELECT ${[...aliases, "total", "a"].join(", ")} FROM (SELECT ${ranked.join(", ")} ` +
    `FROM (SELECT ${inner.join(", ")} FROM ${tableRef(dataset)}${where}) AS s WHERE v IS NOT NULL) AS t ` +
    `WHERE r <= ${DOMINANCE_TOP_VALUES}`;
  return { sql, params: params.values };
}
