/**
 * A dataset as the TRE registers it in its leaf config: where the rows live and which columns a
 * researcher may name. The allow-list is the whole contract: a column not in `columns` is refused,
 * and a column in `identifiers` is refused in every position (selected, filtered, grouped,
 * predictor), even if someone also lists it in `columns` (the validator refuses that config).
 *
 * @example YAML, as the leaf config loader validates it with `datasetDefinitions`:
 * datasets:
 *   - name: patients
 *     engine: postgres
 *     schema: public
 *     table: patients
 *     columns: { age: numeric, sex: categorical, smoker: boolean }
 *     identifiers: [patient_id]
 */
import {
  arr,
  type Check,
  FieldError,
  IDENTIFIER,
  literal,
  obj,
  optional,
  record,
  str,
  tagged,
} from "../../protocol/index.js";

/**
 * numeric: continuous values (summary, histogram, regression, ordering filters);
 * categorical: a small set of text or integer codes (group by, crosstab, eq/ne/in filters);
 * boolean: true/false (group by, crosstab, filters; 0/1 in a regression).
 */
const columnTypes = ["numeric", "categorical", "boolean"] as const;
export type ColumnType = (typeof columnTypes)[number];

const ident = str({ min: 1, max: 63, pattern: IDENTIFIER, what: "an identifier (letters, digits, _)" });
const filePath = str({ min: 1, max: 4096, pattern: /^\/[^\0]*$/, what: "an absolute file path" });
/**
 * DuckDB reads a CSV or Parquet path with *, ? or [ as a glob, and the executor lets DuckDB read the one path named
 * (allowed_paths) and nothing else: a glob could never be read, and every task on it would fail.
 */
const oneFilePath = str({
  min: 1,
  max: 4096,
  pattern: /^\/[^\0*?[]*$/,
  what: "an absolute path to one file (DuckDB would read *, ? or [ as a glob, which tasks may not)",
});

const columns = record(ident, literal(...columnTypes), { max: 1000 });
const identifiers = optional(arr(ident, { max: 100, unique: true }));
const common = { name: ident, columns, identifiers };

const duckdbDataset = obj({
  engine: literal("duckdb"),
  ...common,
  /** The DuckDB database file; opened read-only. */
  path: filePath,
  /** Schema inside the file. Default "main". */
  schema: optional(ident),
  table: ident,
});
const csvDataset = obj({ engine: literal("csv"), ...common, path: oneFilePath });
const parquetDataset = obj({ engine: literal("parquet"), ...common, path: oneFilePath });
const postgresDataset = obj({
  engine: literal("postgres"),
  ...common,
  schema: ident,
  table: ident,
});

export type DuckDbDataset = ReturnType<typeof duckdbDataset>;
export type CsvDataset = ReturnType<typeof csvDataset>;
export type ParquetDataset = ReturnType<typeof parquetDataset>;
export type PostgresDataset = ReturnType<typeof postgresDataset>;
/** One registered dataset; `engine` says how to reach it. */
export type DatasetDefinition = DuckDbDataset | CsvDataset | ParquetDataset | PostgresDataset;
export type DatasetEngine = DatasetDefinition["engine"];

const shape = tagged("engine", {
  duckdb: duckdbDataset,
  csv: csvDataset,
  parquet: parquetDataset,
  postgres: postgresDataset,
}) as Check<DatasetDefinition>;

/** Validates one dataset definition; a column that is also an identifier is refused (DuckDB ignores case, so we do). */
export const datasetDefinition: Check<DatasetDefinition> = (v, path) => {
  const d = shape(v, path);
  const at = (f: string) => (path ? `${path}.${f}` : f);
  if (Object.keys(d.columns).length === 0)
    throw new FieldError(at("columns"), "must allow at least one column");
  const allowed = new Set(Object.keys(d.columns).map((c) => c.toLowerCase()));
  (d.identifiers ?? []).forEach((id, i) => {
    if (allowed.has(id.toLowerCase()))
      throw new FieldError(
        at(`identifiers[${i}]`),
        `'${id}' is also listed in columns; an identifier can never be allowed`,
      );
  });
  if (new Set(Object.keys(d.columns).map((c) => c.toLowerCase())).size !== Object.keys(d.columns).length)
    throw new FieldError(at("columns"), "must not list a column twice in different case");
  return d;
};

/** Validates a TRE's list of datasets: each one, and names unique. */
export const datasetDefinitions: Check<DatasetDefinition[]> = (v, path) => {
  const list = arr(datasetDefinition, { max: 1000 })(v, path);
  const seen = new Set<string>();
  list.forEach((d, i) => {
    if (seen.has(d.name)) throw new FieldError(`${path}[${i}].name`, `'${d.name}' names another dataset too`);
    seen.add(d.name);
  });
  return list;
};

/** Is `column` one of the dataset's identifiers (in any case)? */
export function isIdentifierColumn(dataset: DatasetDefinition, column: string): boolean {
  const lower = column.toLowerCase();
  return (dataset.identifiers ?? []).some((id) => id.toLowerCase() === lower);
}
