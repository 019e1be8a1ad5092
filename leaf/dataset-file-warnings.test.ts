import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datasetFileWarnings } from "./dataset-file-warnings.js";

let dir: string;
const columns = { age: "numeric" as const };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-dataset-files-"));
  await writeFile(join(dir, "north.csv"), "age\n40\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("datasetFileWarnings", () => {
  it("says nothing of files that are there, globs and PostgreSQL tables", async () => {
    expect(
      await datasetFileWarnings({
        file: "leaf.yaml",
        datasets: [
          { name: "north", engine: "csv", path: join(dir, "north.csv"), columns },
          { name: "parts", engine: "parquet", path: join(dir, "parts", "*.parquet"), columns },
          { name: "registry", engine: "postgres", schema: "public", table: "registry", columns },
        ],
      }),
    ).toEqual([]);
  });

  it("names the field, the file and the dataset whose file is missing or is a folder", async () => {
    const missing = join(dir, "patients-nowhere.duckdb");
    expect(
      await datasetFileWarnings({
        file: "leaf.yaml",
        datasets: [
          { name: "north", engine: "csv", path: join(dir, "north.csv"), columns },
          { name: "patients", engine: "duckdb", path: missing, table: "patients", columns },
          { name: "folder", engine: "parquet", path: dir, columns },
        ],
      }),
    ).toEqual([
      `leaf.yaml: datasets[1].path: ${missing} cannot be read (ENOENT): every task on dataset 'patients' will fail until it is there; check the path`,
      `leaf.yaml: datasets[2].path: ${dir} is not a file: every task on dataset 'folder' will fail until it is there; check the path`,
    ]);
  });
});
