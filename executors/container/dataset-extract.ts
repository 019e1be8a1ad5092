/**
 * What a container gets to read: for each dataset the task names, one CSV file of that dataset's
 * allowed columns (never its identifier columns, never a column the TRE has not listed), written by
 * the agent inside the TRE and mounted read-only at /data/<name>.csv.
 *
 * This is the container's counterpart of the query executor's column allow-list and the broker's
 * per-task PostgreSQL role: researcher code never sees a database credential or a column the TRE
 * has not released to analyses, and it needs no network to read its data. The extract is read with
 * the same engines (DuckDB read-only for files, the task's own login for PostgreSQL) and deleted
 * with the task's directory when the run ends.
 */
import { open } from "node:fs/promises";
import type { ExecutorCredential } from "../executor.js";
import { createEngine } from "../query/create-engine.js";
import { type DatasetDefinition, isIdentifierColumn } from "../query/dataset.js";
import type { DuckDbEngineOptions } from "../query/duckdb-engine.js";
import { classifyEngineError } from "../query/engine-errors.js";
import type { Row } from "../query/results.js";
import { quoteIdent, tableRef } from "../query/sql-text.js";
import { checkColumns } from "../query/storage-check.js";
import type { RunGuard } from "../run-guard.js";

/** The columns a container may read: the allow-list minus identifiers, in the TRE's order. */
function extractColumns(dataset: DatasetDefinition): string[] {
  return Object.keys(dataset.columns).filter((c) => !isIdentifierColumn(dataset, c));
}

/** One CSV field (RFC 4180): quoted when it holds a comma, quote, CR or LF; null is empty. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return "";
  const text = value instanceof Date ? value.toISOString() : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export interface ExtractOptions {
  taskId: string;
  timeoutMs: number;
  duckdb?: DuckDbEngineOptions;
}

/** Writes the dataset's allowed columns to `file` (created owner-writable, world-readable for the container user). */
export async function extractDataset(
  dataset: DatasetDefinition,
  credential: ExecutorCredential,
  file: string,
  guard: RunGuard,
  options: ExtractOptions,
): Promise<{ rows: number; columns: string[] }> {
  const columns = extractColumns(dataset);
  const rows = await readColumns(dataset, columns, credential, guard, options);
  const handle = await open(file, "wx", 0o644);
  try {
    await handle.writeFile(`${columns.map(csvField).join(",")}\n`);
    const CHUNK = 4096;
    for (let i = 0; i < rows.length; i += CHUNK) {
      guard.check();
      const lines = rows.slice(i, i + CHUNK).map((row) => `${row.map(csvField).join(",")}\n`);
      await handle.writeFile(lines.join(""));
    }
  } finally {
    await handle.close();
  }
  return { rows: rows.length, columns };
}

/**
 * Every row of `columns`, after checking that the table holds what the TRE declared (a text column
 * declared numeric would reach the container's code as numbers it cannot parse), with engine errors
 * classified as the query executor classifies them: the same failure is retryable, or not, in both.
 */
async function readColumns(
  dataset: DatasetDefinition,
  columns: string[],
  credential: ExecutorCredential,
  guard: RunGuard,
  options: ExtractOptions,
): Promise<Row[]> {
  const engine = createEngine(dataset, credential, options);
  try {
    const interrupt = () => engine.interrupt();
    await guard.interruptible(() => engine.open(), interrupt);
    checkColumns(columns, dataset, await guard.interruptible(() => engine.columnTypes(), interrupt));
    const sql = `SELECT ${columns.map(quoteIdent).join(", ")} FROM ${tableRef(dataset)}`;
    return await guard.interruptible(() => engine.query(sql, []), interrupt);
  } catch (error) {
    throw classifyEngineError(error, dataset, options.timeoutMs);
  } finally {
    await engine.close();
  }
}
