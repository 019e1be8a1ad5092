/**
 * AnalysisSpec + the TRE's dataset definition → one parameterised SELECT. Pure: no database, so every
 * refusal and every statement shape is unit-tested. Names in the SQL come only from the allow-list,
 * quoted; values only as bound `$n` parameters; the SQL text is the same for DuckDB and PostgreSQL.
 *
 * The spec is validated again here (it normally was at the edge already), so nothing that escaped
 * the protocol validator's identifier pattern can reach the text even through a caller's bug.
 *
 * @example
 * const q = compile(spec, patients);
 * // q.sql: SELECT "region" AS k0, count(*) AS n FROM "public"."patients" WHERE "sex" = $1 GROUP BY "region"
 * // q.params: ["F"]
 */
import { type AnalysisSpec, analysisSpec, FieldError } from "../../protocol/index.js";
import { AnalysisRefused } from "../errors.js";
import { type CompiledDominance, compileDominance } from "./compile-dominance.js";
import { type CategoricalValueCheck, compileFilters, resolveColumn } from "./compile-filters.js";
import type { DatasetDefinition } from "./dataset.js";
import { asDouble, Params, quoteIdent, tableRef } from "./sql-text.js";

/** The analyses the query executor runs. */
export type QuerySpec = Exclude<AnalysisSpec, { kind: "container" }>;

export interface CompiledQuery {
  /** The validated spec the query answers. */
  spec: QuerySpec;
  sql: string;
  params: (string | number | boolean)[];
  /** Every column the query reads, to check against the table before it runs. */
  columns: string[];
  /** Categorical filter values whose type must match the column's storage (text or integer). */
  categoricalChecks: CategoricalValueCheck[];
  /** For a summary: the private query for the airlock's dominance facts (same columns as `sql`). */
  dominance?: CompiledDominance;
}

const groupable = ["categorical", "boolean"] as const;

/** Compiles `analysis` for `dataset`; throws AnalysisRefused naming the spec field at fault. */
export function compile(analysis: AnalysisSpec, dataset: DatasetDefinition): CompiledQuery {
  const spec = validateQuerySpec(analysis);
  if (spec.dataset !== dataset.name)
    throw new AnalysisRefused(
      "dataset",
      `'${spec.dataset}' is not the dataset '${dataset.name}' given to run it on`,
    );
  const params = new Params();
  const columns = new Set<string>();
  const use = (name: string) => {
    columns.add(name);
    return name;
  };
  // Resolve the selected columns first, so refusals name the positions in the spec's reading order.
  const select = compileSelect(spec, dataset, use);
  const { where, checks } = compileFilters(spec.filters, dataset, params);
  for (const f of spec.filters ?? []) use(f.column);
  const from = `${tableRef(dataset)}${where}`;
  const sql = select.build(from, params);
  const compiled = { spec, sql, params: params.values, columns: [...columns], categoricalChecks: checks };
  return spec.kind === "summary" ? { ...compiled, dominance: compileDominance(spec, dataset) } : compiled;
}

/** Re-checks the spec with the protocol validator and refuses kinds this executor does not run. */
export function validateQuerySpec(analysis: AnalysisSpec): QuerySpec {
  let spec: AnalysisSpec;
  try {
    spec = analysisSpec(analysis, "");
  } catch (error) {
    if (error instanceof FieldError) throw new AnalysisRefused(error.path, error.problem, { cause: error });
    throw error;
  }
  if (spec.kind === "container")
    throw new AnalysisRefused("kind", "the query executor does not run container analyses");
  return spec;
}

interface Select {
  /** The statement, given "table WHERE …"; bin parameters are bound after the filters'. */
  build(from: string, params: Params): string;
}

function compileSelect(spec: QuerySpec, dataset: DatasetDefinition, use: (name: string) => string): Select {
  const groupKeys = (names: readonly string[] | undefined, field: string) =>
    (names ?? []).map((g, i) => {
      resolveColumn(dataset, g, `${field}[${i}]`, groupable, "group by");
      return quoteIdent(use(g));
    });
  switch (spec.kind) {
    case "count": {
      const keys = groupKeys(spec.groupBy, "groupBy");
      return { build: (from) => grouped(keys, "count(*) AS n", from) };
    }
    case "summary": {
      resolveColumn(dataset, spec.column, "column", ["numeric"], "a summary");
      const v = asDouble(use(spec.column), "numeric");
      const keys = groupKeys(spec.groupBy, "groupBy");
      return {
        build: (from) =>
          grouped(keys, `count(${v}) AS n, avg(${v}) AS mean, var_samp(${v}) AS variance`, from),
      };
    }
    case "histogram": {
      resolveColumn(dataset, spec.column, "column", ["numeric"], "a histogram");
      if (!(spec.bins.min < spec.bins.max))
        throw new AnalysisRefused("bins.max", "must be greater than bins.min");
      const v = asDouble(use(spec.column), "numeric");
      return {
        build: (from, params) => {
          const [lo, hi, count] = [
            params.double(spec.bins.min),
            params.double(spec.bins.max),
            params.double(spec.bins.count),
          ];
          // Codes: ≥ 0 a bin; −1 missing, −2 below, −3 above. The bin formula is the one documented in protocol/outputs.ts.
          const bin =
            `CASE WHEN v IS NULL THEN -1 WHEN v < ${lo} THEN -2 WHEN v > ${hi} THEN -3 ` +
            `ELSE CAST(LEAST(floor((v - ${lo}) * ${count} / (${hi} - ${lo})), ${count} - 1) AS BIGINT) END`;
          return `SELECT ${bin} AS bin, count(*) AS n FROM (SELECT ${v} AS v FROM ${from}) AS s GROUP BY 1`;
        },
      };
    }
    case "crosstab": {
      resolveColumn(dataset, spec.rows, "rows", groupable, "a crosstab");
      resolveColumn(dataset, spec.cols, "cols", groupable, "a crosstab");
      if (spec.rows === spec.cols) throw new AnalysisRefused("cols", "must differ from rows");
      const keys = [quoteIdent(use(spec.rows)), quoteIdent(use(spec.cols))];
      return { build: (from) => grouped(keys, "count(*) AS n", from) };
    }
    case "regression":
      return compileRegression(spec, dataset, use);
  }
}

function grouped(keys: string[], aggregates: string, from: string): string {
  if (keys.length === 0) return `SELECT ${aggregates} FROM ${from}`;
  const selected = keys.map((k, i) => `${k} AS k${i}`).join(", ");
  return `SELECT ${selected}, ${aggregates} FROM ${from} GROUP BY ${keys.join(", ")}`;
}

/**
 * Sufficient statistics in one scan. Columns of the result, in order: rows passing the filters, n
 * (complete rows), X'X's upper triangle row by row, X'y, y'y. Sums run only over complete rows.
 */
function compileRegression(
  spec: Extract<QuerySpec, { kind: "regression" }>,
  dataset: DatasetDefinition,
  use: (name: string) => string,
): Select {
  const numericOrBoolean = ["numeric", "boolean"] as const;
  const yType = resolveColumn(dataset, spec.outcome, "outcome", numericOrBoolean, "a regression outcome");
  const xs = spec.predictors.map((x, i) => {
    if (x === spec.outcome) throw new AnalysisRefused(`predictors[${i}]`, `'${x}' is the outcome`);
    return asDouble(
      use(x),
      resolveColumn(dataset, x, `predictors[${i}]`, numericOrBoolean, "a regression predictor"),
    );
  });
  const y = asDouble(use(spec.outcome), yType);
  const intercept = spec.intercept ?? true;
  // Inner aliases: y, then x1…xk; a term is undefined for the intercept (the constant 1).
  const inner = [`${y} AS y`, ...xs.map((x, i) => `${x} AS x${i + 1}`)].join(", ");
  const terms: (string | undefined)[] = [...(intercept ? [undefined] : []), ...xs.map((_, i) => `x${i + 1}`)];
  const complete = ["y", ...xs.map((_, i) => `x${i + 1}`)].map((c) => `${c} IS NOT NULL`).join(" AND ");
  const sum = (a: string | undefined, b: string | undefined) => {
    const factors = [a, b].filter((f) => f !== undefined);
    return factors.length === 0
      ? `count(*) FILTER (WHERE ${complete})`
      : `sum(${factors.join(" * ")}) FILTER (WHERE ${complete})`;
  };
  const outer = ["count(*)", `count(*) FILTER (WHERE ${complete})`];
  terms.forEach((a, i) => {
    for (const b of terms.slice(i)) outer.push(sum(a, b));
  });
  for (const a of terms) outer.push(sum(a, "y"));
  outer.push(sum("y", "y"));
  return {
    build: (from) =>
      `SELECT ${outer.map((e, i) => `${e} AS s${i}`).join(", ")} FROM (SELECT ${inner} FROM ${from}) AS s`,
  };
}
