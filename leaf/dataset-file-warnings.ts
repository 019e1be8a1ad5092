/**
 * What a TRE operator should hear at start when a dataset's file is not there to read, or has no table or column
 * that leaf.yaml names: without it the leaf links and reports ready, and every task on that dataset ends, after its
 * retries, as an executor error that names no file. Warnings, not errors, like the PostgreSQL grant check (which
 * also names a PostgreSQL dataset's missing table or columns): the TRE's other datasets work, and a file may be
 * mounted or loaded after the leaf starts.
 */
import { stat } from "node:fs/promises";
import { type DatasetTableProblem, fileDatasetProblems } from "../executors/index.js";
import type { LeafConfig } from "./leaf-config.js";

/** What the TRE's operator is told follows from each kind of problem, and what to check. */
const consequence: Record<DatasetTableProblem["field"], (dataset: string) => string> = {
  path: (d) => `every task on dataset '${d}' will fail until DuckDB can read it; check the file`,
  table: (d) => `every task on dataset '${d}' will fail until it is there; check the schema and table names`,
  columns: (d) => `every task on dataset '${d}' that reads them will fail; check the column names`,
};

export async function datasetFileWarnings(config: Pick<LeafConfig, "file" | "datasets">): Promise<string[]> {
  const warnings: string[] = [];
  for (const [i, d] of config.datasets.entries()) {
    if (d.engine === "postgres") continue;
    const problem = await stat(d.path).then(
      (s) => (s.isFile() ? undefined : "is not a file"),
      (e: NodeJS.ErrnoException) => `cannot be read (${e.code ?? e.message})`,
    );
    if (problem) {
      warnings.push(
        `${config.file}: datasets[${i}].path: ${d.path} ${problem}: every task on dataset '${d.name}' will fail ` +
          "until it is there; check the path",
      );
      continue;
    }
    // Opened read-only, as the query executor opens it.
    for (const { field, problem } of await fileDatasetProblems(d))
      warnings.push(`${config.file}: datasets[${i}].${field}: ${problem}: ${consequence[field](d.name)}`);
  }
  return warnings;
}
