/**
 * Column resolution against the allow-list, and filters → a WHERE clause with bound values.
 *
 * Filter semantics are SQL's: a comparison with a null value is not true, so `eq`, `ne`, `lt`…, `in`
 * and `between` never keep a row whose column is null; `is_null` / `not_null` test for it. `between`
 * includes both ends. Ordering operators need a numeric column; categorical columns take eq, ne and
 * in; boolean columns take eq, ne and in with true/false.
 */
import type { Filter } from "../../protocol/index.js";
import { AnalysisRefused } from "../errors.js";
import { type ColumnType, type DatasetDefinition, isIdentifierColumn } from "./dataset.js";
import { asDouble, type Params, quoteIdent } from "./sql-text.js";

type Scalar = string | number | boolean;

/** A categorical filter value whose type must match what the column holds (text or integer codes). */
export interface CategoricalValueCheck {
  field: string;
  column: string;
  values: Scalar[];
  /** Whether the spec gave an array (so a bad value is named `value[i]`). */
  list: boolean;
}

/**
 * The declared type of an allowed column; refuses identifiers (in any case), columns not on the
 * allow-list and columns of a type the use does not accept. `field` names the spec position.
 */
export function resolveColumn<T extends ColumnType>(
  dataset: DatasetDefinition,
  name: string,
  field: string,
  accept: readonly T[],
  use: string,
): T {
  if (isIdentifierColumn(dataset, name))
    throw new AnalysisRefused(
      field,
      `'${name}' is an identifier column of dataset '${dataset.name}' and can never be used`,
    );
  // hasOwn: a name like "constructor" must not find Object.prototype's members.
  const type = Object.hasOwn(dataset.columns, name) ? dataset.columns[name] : undefined;
  if (type === undefined)
    throw new AnalysisRefused(field, `'${name}' is not an allowed column of dataset '${dataset.name}'`);
  if (!(accept as readonly ColumnType[]).includes(type))
    throw new AnalysisRefused(field, `'${name}' is ${type}; ${use} needs a ${accept.join(" or ")} column`);
  return type as T;
}

const comparison = { eq: "=", ne: "<>", lt: "<", le: "<=", gt: ">", ge: ">=" } as const;
const ordering = new Set(["lt", "le", "gt", "ge", "between"]);

/** The WHERE clause (empty when there are no filters) and the categorical values to check later. */
export function compileFilters(
  filters: readonly Filter[] | undefined,
  dataset: DatasetDefinition,
  params: Params,
): { where: string; checks: CategoricalValueCheck[] } {
  const clauses: string[] = [];
  const checks: CategoricalValueCheck[] = [];
  (filters ?? []).forEach((f, i) => {
    const at = `filters[${i}]`;
    const type = resolveColumn(
      dataset,
      f.column,
      `${at}.column`,
      ["numeric", "categorical", "boolean"],
      "a filter",
    );
    if (ordering.has(f.op) && type !== "numeric")
      throw new AnalysisRefused(`${at}.op`, `'${f.op}' needs a numeric column; '${f.column}' is ${type}`);
    const { clause, values } = compileFilter(f, type, `${at}.value`, params);
    clauses.push(clause);
    if (type === "categorical" && values.length > 0)
      checks.push({ field: `${at}.value`, column: f.column, values, list: Array.isArray(f.value) });
  });
  return { where: clauses.length === 0 ? "" : ` WHERE ${clauses.join(" AND ")}`, checks };
}

function compileFilter(
  f: Filter,
  type: ColumnType,
  field: string,
  params: Params,
): { clause: string; values: Scalar[] } {
  // Numeric columns compare as doubles, so an integer column takes 30.5 without a type error.
  const col = type === "numeric" ? asDouble(f.column, "numeric") : quoteIdent(f.column);
  const bind = (v: Scalar) => (type === "numeric" ? params.double(v as number) : params.add(v));
  const value = f.value;
  switch (f.op) {
    case "is_null":
    case "not_null":
      if (value !== undefined) throw new AnalysisRefused(field, `'${f.op}' takes no value`);
      return { clause: `${col} IS ${f.op === "is_null" ? "" : "NOT "}NULL`, values: [] };
    case "in": {
      if (!Array.isArray(value) || value.length === 0)
        throw new AnalysisRefused(field, "'in' needs a non-empty array of values");
      value.forEach((v, j) => {
        checkScalar(v, type, `${field}[${j}]`);
      });
      return { clause: `${col} IN (${value.map(bind).join(", ")})`, values: value };
    }
    case "between": {
      if (!Array.isArray(value) || value.length !== 2)
        throw new AnalysisRefused(field, "'between' needs an array of two numbers [low, high]");
      const [low, high] = value as [Scalar, Scalar];
      checkScalar(low, type, `${field}[0]`);
      checkScalar(high, type, `${field}[1]`);
      if ((low as number) > (high as number)) throw new AnalysisRefused(field, "low must not be above high");
      return { clause: `${col} BETWEEN ${bind(low)} AND ${bind(high)}`, values: value };
    }
    default: {
      if (value === undefined) throw new AnalysisRefused(field, `'${f.op}' needs a value`);
      if (Array.isArray(value)) throw new AnalysisRefused(field, `'${f.op}' takes one value, not an array`);
      checkScalar(value, type, field);
      return { clause: `${col} ${comparison[f.op]} ${bind(value)}`, values: [value] };
    }
  }
}

function checkScalar(v: Scalar, type: ColumnType, field: string): void {
  const ok =
    type === "numeric"
      ? typeof v === "number"
      : type === "boolean"
        ? typeof v === "boolean"
        : typeof v === "string" || typeof v === "number";
  if (!ok) {
    const want = { numeric: "a number", boolean: "true or false", categorical: "a string or a number" }[type];
    throw new AnalysisRefused(field, `expected ${want} for a ${type} column, got ${typeof v}`);
  }
}
