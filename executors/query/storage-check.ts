/**
 * Checks a compiled query against what the table really holds, before it runs: every column the
 * query reads must exist (and, on PostgreSQL, be readable by the task's role), hold what the TRE
 * declared it to hold, and categorical filter values must match the column's storage (a text column
 * takes strings, an integer-coded one numbers). Done here rather than left to the database because
 * the database's conversion errors quote data values, which must never travel back to a researcher.
 */
import { AnalysisRefused, ExecutorFailed } from "../errors.js";
import type { CompiledQuery } from "./compile.js";
import type { ColumnType, DatasetDefinition } from "./dataset.js";

export type StorageClass = "number" | "text" | "boolean" | "other";

const NUMBER =
  /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|INT2|INT4|INT8|FLOAT|FLOAT4|FLOAT8|REAL|DOUBLE|DOUBLE PRECISION|DECIMAL|NUMERIC)(\s*\(.*\))?$/;
const TEXT = /^(VARCHAR|TEXT|STRING|CHARACTER VARYING|CHARACTER|CHAR|BPCHAR|ENUM)(\s*\(.*\))?$/;

/** Classifies a type name as DuckDB (DESCRIBE) or PostgreSQL (information_schema) reports it. */
export function storageClass(typeName: string): StorageClass {
  const t = typeName.trim().toUpperCase();
  if (t === "BOOLEAN" || t === "BOOL") return "boolean";
  if (NUMBER.test(t)) return "number";
  if (TEXT.test(t)) return "text";
  return "other";
}

const fits: Record<ColumnType, readonly StorageClass[]> = {
  numeric: ["number"],
  boolean: ["boolean"],
  categorical: ["text", "number", "boolean"],
};

/**
 * Throws ExecutorFailed (not retryable: the TRE's config and table disagree) or AnalysisRefused (a
 * categorical value of the wrong type). `storage` maps column name → the engine's type name.
 */
export function checkStorage(
  query: CompiledQuery,
  dataset: DatasetDefinition,
  storage: ReadonlyMap<string, string>,
): void {
  const classes = checkColumns(query.columns, dataset, storage);
  for (const check of query.categoricalChecks) {
    const held = classes.get(check.column);
    const want = held === "text" ? "string" : held === "number" ? "number" : "boolean";
    check.values.forEach((v, i) => {
      if (typeof v !== want) {
        const field = check.list ? `${check.field}[${i}]` : check.field;
        throw new AnalysisRefused(
          field,
          `'${check.column}' holds ${held} values; expected a ${want}, got ${typeof v}`,
        );
      }
    });
  }
}

/**
 * Throws ExecutorFailed (not retryable) unless every one of `columns` is in the table, readable, and
 * holds what the TRE declared: the query executor checks the columns a query reads, the container
 * executor those it extracts. Returns each column's storage class.
 */
export function checkColumns(
  columns: readonly string[],
  dataset: DatasetDefinition,
  storage: ReadonlyMap<string, string>,
): Map<string, StorageClass> {
  const classes = new Map<string, StorageClass>();
  for (const column of columns) {
    const typeName = storage.get(column);
    if (typeName === undefined) {
      throw new ExecutorFailed(
        `dataset '${dataset.name}' allows column '${column}', but the table has no such column the task may read`,
        { retryable: false },
      );
    }
    const declared = dataset.columns[column] as ColumnType;
    const found = storageClass(typeName);
    if (!fits[declared].includes(found)) {
      throw new ExecutorFailed(
        `dataset '${dataset.name}' declares column '${column}' ${declared}, but the table holds ${typeName}`,
        { retryable: false },
      );
    }
    classes.set(column, found);
  }
  return classes;
}
