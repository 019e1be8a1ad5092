/**
 * Writes synthetic patients where a TRE would keep them: a CSV file, a Parquet file, a DuckDB
 * database file, or a PostgreSQL table. Every writer stores exactly the generated values (doubles
 * round-trip through their shortest decimal form), so statistics computed from the rows in memory
 * are the statistics of the stored table. Table names come from the caller (a TRE or a test), never
 * from a researcher, and are quoted all the same.
 */
import { writeFile } from "node:fs/promises";
import { DuckDBInstance } from "@duckdb/node-api";
import type pg from "pg";
import { quoteIdent, quoteLiteral } from "./query/sql-text.js";
import type { PatientRow } from "./synthetic-patients.js";

type Kind = "text" | "integer" | "double" | "boolean";

/** Column order and storage types, shared by every writer. */
const COLUMNS: readonly (readonly [keyof PatientRow, Kind])[] = [
  ["patient_id", "text"],
  ["age", "integer"],
  ["sex", "text"],
  ["region", "text"],
  ["postcode", "text"],
  ["bmi", "double"],
  ["systolic_bp", "integer"],
  ["cholesterol", "double"],
  ["smoker", "boolean"],
  ["diabetes", "boolean"],
];
const DUCKDB_TYPE: Record<Kind, string> = {
  text: "VARCHAR",
  integer: "INTEGER",
  double: "DOUBLE",
  boolean: "BOOLEAN",
};
const PG_TYPE: Record<Kind, string> = {
  text: "text",
  integer: "integer",
  double: "double precision",
  boolean: "boolean",
};

/** CSV with a header row; a null is an empty field. */
export async function writePatientsCsv(rows: readonly PatientRow[], path: string): Promise<void> {
  const field = (v: unknown) => {
    if (v === null) return "";
    const s = String(v);
    return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [COLUMNS.map(([c]) => c).join(",")];
  for (const row of rows) lines.push(COLUMNS.map(([c]) => field(row[c])).join(","));
  await writeFile(path, `${lines.join("\n")}\n`);
}

/** A DuckDB database file holding `table` (replaced if it exists). */
export async function writePatientsDuckDb(
  rows: readonly PatientRow[],
  path: string,
  { table = "patients" }: { table?: string } = {},
): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  try {
    await fillDuckDb(instance, rows, table);
  } finally {
    instance.closeSync();
  }
}

/** A Parquet file (written through an in-memory DuckDB). */
export async function writePatientsParquet(rows: readonly PatientRow[], path: string): Promise<void> {
  const instance = await DuckDBInstance.create(":memory:");
  try {
    await fillDuckDb(instance, rows, "patients");
    const connection = await instance.connect();
    await connection.run(`COPY patients TO ${quoteLiteral(path)} (FORMAT parquet)`);
    connection.closeSync();
  } finally {
    instance.closeSync();
  }
}

async function fillDuckDb(
  instance: DuckDBInstance,
  rows: readonly PatientRow[],
  table: string,
): Promise<void> {
  const connection = await instance.connect();
  try {
    const columns = COLUMNS.map(([c, k]) => `${quoteIdent(c)} ${DUCKDB_TYPE[k]}`).join(", ");
    await connection.run(`CREATE OR REPLACE TABLE ${quoteIdent(table)} (${columns})`);
    const appender = await connection.createAppender(table);
    for (const row of rows) {
      for (const [c, kind] of COLUMNS) {
        const v = row[c];
        if (v === null) appender.appendNull();
        else if (kind === "text") appender.appendVarchar(v as string);
        else if (kind === "integer") appender.appendInteger(v as number);
        else if (kind === "double") appender.appendDouble(v as number);
        else appender.appendBoolean(v as boolean);
      }
      appender.endRow();
    }
    appender.closeSync();
  } finally {
    connection.closeSync();
  }
}

/** A PostgreSQL table `schema.table` (replaced if it exists), filled in batches of bound arrays. */
export async function writePatientsPostgres(
  client: pg.ClientBase,
  rows: readonly PatientRow[],
  {
    schema = "public",
    table = "patients",
    batchRows = 5000,
  }: { schema?: string; table?: string; batchRows?: number } = {},
): Promise<void> {
  const target = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const columns = COLUMNS.map(([c, k]) => `${quoteIdent(c)} ${PG_TYPE[k]}`).join(", ");
  await client.query(`DROP TABLE IF EXISTS ${target}`);
  await client.query(`CREATE TABLE ${target} (${columns})`);
  const unnest = COLUMNS.map(([, k], i) => `$${i + 1}::${PG_TYPE[k]}[]`).join(", ");
  const insert = `INSERT INTO ${target} SELECT * FROM unnest(${unnest})`;
  for (let start = 0; start < rows.length; start += batchRows) {
    const batch = rows.slice(start, start + batchRows);
    await client.query(
      insert,
      COLUMNS.map(([c]) => batch.map((r) => r[c])),
    );
  }
}
