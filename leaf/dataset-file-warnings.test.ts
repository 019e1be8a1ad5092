import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { datasetFileWarnings } from "./dataset-file-warnings.js";

let dir: string;
const columns = { age: "numeric" as const };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-dataset-files-"));
  await writeFile(join(dir, "north.csv"), "age,sex\n40,F\n");
  const db = await DuckDBInstance.create(join(dir, "south.duckdb"));
  const c = await db.connect();
  await c.run("CREATE TABLE patients (age INTEGER, sex VARCHAR)");
  await c.run("INSERT INTO patients VALUES (40, 'F')");
  c.closeSync();
  db.closeSync();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("datasetFileWarnings", () => {
  it("says nothing of files whose table and columns are there, nor of PostgreSQL tables (the broker looks)", async () => {
    expect(
      await datasetFileWarnings({
        file: "leaf.yaml",
        datasets: [
          {
            name: "north",
            engine: "csv",
            path: join(dir, "north.csv"),
            columns: { age: "numeric", sex: "categorical" },
          },
          { name: "south", engine: "duckdb", path: join(dir, "south.duckdb"), table: "patients", columns },
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

  it("names a table the DuckDB file lacks, and each declared column its table or file lacks", async () => {
    const south = join(dir, "south.duckdb");
    const north = join(dir, "north.csv");
    expect(
      await datasetFileWarnings({
        file: "leaf.yaml",
        datasets: [
          { name: "south", engine: "duckdb", path: south, table: "patient", columns },
          { name: "elsewhere", engine: "duckdb", path: south, schema: "other", table: "patients", columns },
          {
            name: "south-wide",
            engine: "duckdb",
            path: south,
            table: "patients",
            columns: { ...columns, Sex: "categorical", bmi: "numeric" },
          },
          { name: "north", engine: "csv", path: north, columns: { age: "numeric", smoker: "boolean" } },
        ],
      }),
    ).toEqual([
      `leaf.yaml: datasets[0].table: ${south} has no table main.patient: every task on dataset 'south' will fail until it is there; check the schema and table names`,
      `leaf.yaml: datasets[1].table: ${south} has no table other.patients: every task on dataset 'elsewhere' will fail until it is there; check the schema and table names`,
      `leaf.yaml: datasets[2].columns: table main.patients has no column 'Sex', 'bmi' (names match exactly): every task on dataset 'south-wide' that reads them will fail; check the column names`,
      `leaf.yaml: datasets[3].columns: file ${north} has no column 'smoker' (names match exactly): every task on dataset 'north' that reads them will fail; check the column names`,
    ]);
  });

  it("names a file DuckDB cannot read as its engine, with the kind of error DuckDB gives", async () => {
    const notParquet = join(dir, "north.parquet");
    await writeFile(notParquet, "age\n40\n");
    expect(
      await datasetFileWarnings({
        file: "leaf.yaml",
        datasets: [{ name: "north", engine: "parquet", path: notParquet, columns }],
      }),
    ).toEqual([
      `leaf.yaml: datasets[0].path: DuckDB could not read ${notParquet} (Invalid Input Error): every task on dataset 'north' will fail until DuckDB can read it; check the file`,
    ]);
  });
});
