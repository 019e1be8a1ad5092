/**
 * The only places SQL text is made from names. Every name reaching these helpers has already been
 * matched against the TRE's allow-list (and the protocol's identifier pattern); quoting is the second
 * fence, not the first. Values never pass through here: they are bound parameters.
 */
import { quoteIdent } from "../../common/index.js";
import type { DatasetDefinition } from "./dataset.js";

export { quoteIdent, quoteLiteral } from "../../common/index.js";

/** Name of the temporary view through which a CSV or Parquet file is read. */
export const FILE_VIEW = "tremesh_dataset";

/** The FROM target of a dataset. */
export function tableRef(dataset: DatasetDefinition): string {
  switch (dataset.engine) {
    case "duckdb":
      return `${quoteIdent(dataset.schema ?? "main")}.${quoteIdent(dataset.table)}`;
    case "postgres":
      return `${quoteIdent(dataset.schema)}.${quoteIdent(dataset.table)}`;
    case "csv":
    case "parquet":
      return quoteIdent(FILE_VIEW);
  }
}

/** A column as a double, the one numeric type every statistic is computed in (booleans as 0/1). */
export function asDouble(column: string, type: "numeric" | "boolean"): string {
  const q = quoteIdent(column);
  return type === "boolean"
    ? `CAST(CAST(${q} AS INTEGER) AS DOUBLE PRECISION)`
    : `CAST(${q} AS DOUBLE PRECISION)`;
}

/** Collects bound values and hands out their `$n` placeholders (DuckDB and PostgreSQL both take `$n`). */
export class Params {
  readonly values: (string | number | boolean)[] = [];
  add(value: string | number | boolean): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
  /** A bound number used as a double, so neither engine guesses another type for it. */
  double(value: number): string {
    return `CAST(${this.add(value)} AS DOUBLE PRECISION)`;
  }
}
