/**
 * Whether a file dataset's table and the columns its TRE declared are there, looked at the way the query executor
 * opens the file (read-only and locked down, see duckdb-instances.ts) and reads its column types (DESCRIBE). Asked
 * when a leaf starts, so that a misspelt table or column shows then, not as every task's `executor_error`.
 *
 * DuckDB's own messages stay out of what this returns: a CSV reader's error can quote a line of data. Only the
 * error's kind ("IO Error") and names the TRE wrote in its config are repeated.
 */

import { DuckDbEngine } from "./duckdb-engine.js";
import type { FileDataset } from "./duckdb-instances.js";

/** One thing missing, with the dataset's field that names it (`table`, `columns`, `path`). */
export interface DatasetTableProblem {
  field: "path" | "table" | "columns";
  problem: string;
}

/** None when the table and every declared column are there; a file that is not there is the caller's to report. */
export async function fileDatasetProblems(dataset: FileDataset): Promise<DatasetTableProblem[]> {
  // One thread: this runs beside the leaf's start, and DESCRIBE needs no more.
  const engine = new DuckDbEngine(dataset, { threads: 1 });
  let types: Map<string, string>;
  try {
    await engine.open();
    types = await engine.columnTypes();
  } catch (error) {
    return [openProblem(dataset, error)];
  } finally {
    await engine.close();
  }
  // Matched exactly, as the executor matches a task's columns against DESCRIBE.
  const missing = Object.keys(dataset.columns).filter((c) => !types.has(c));
  if (missing.length === 0) return [];
  const table = dataset.engine === "duckdb" ? `table ${tableName(dataset)}` : `file ${dataset.path}`;
  return [
    {
      field: "columns",
      problem: `${table} has no column ${missing.map((c) => `'${c}'`).join(", ")} (names match exactly)`,
    },
  ];
}

function openProblem(dataset: FileDataset, error: unknown): DatasetTableProblem {
  const message = error instanceof Error ? error.message : String(error);
  if (dataset.engine === "duckdb" && message.startsWith("Catalog Error:"))
    return { field: "table", problem: `${dataset.path} has no table ${tableName(dataset)}` };
  const kind = /^([A-Za-z ]{1,40} Error):/.exec(message)?.[1] ?? "an unknown error";
  return { field: "path", problem: `DuckDB could not read ${dataset.path} (${kind})` };
}

function tableName(dataset: FileDataset & { engine: "duckdb" }): string {
  return `${dataset.schema ?? "main"}.${dataset.table}`;
}
