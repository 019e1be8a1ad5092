import { describe, expect, it } from "vitest";
import { FieldError } from "../../protocol/index.js";
import { datasetDefinition, datasetDefinitions } from "./dataset.js";

const good = {
  name: "patients",
  engine: "duckdb",
  path: "/data/north.duckdb",
  table: "patients",
  columns: { age: "numeric", sex: "categorical", smoker: "boolean" },
  identifiers: ["patient_id"],
};

const { table: _table, ...fileFields } = good;

function problem(value: unknown): string {
  try {
    datasetDefinitions(value, "datasets");
  } catch (error) {
    if (error instanceof FieldError) return error.message;
    throw error;
  }
  throw new Error("accepted");
}

describe("dataset definitions", () => {
  it("accepts each engine's definition", () => {
    expect(datasetDefinition(good, "")).toEqual(good);
    const { path: _p, table: _t, ...rest } = good;
    expect(datasetDefinition({ ...rest, engine: "csv", path: "/data/p.csv" }, "")).toMatchObject({
      engine: "csv",
    });
    expect(datasetDefinition({ ...rest, engine: "parquet", path: "/data/p.parquet" }, "")).toMatchObject({
      engine: "parquet",
    });
    expect(
      datasetDefinition({ ...rest, engine: "postgres", schema: "public", table: "p" }, ""),
    ).toMatchObject({ schema: "public" });
  });

  it.each([
    [
      [{ ...good, engine: "mysql" }],
      'datasets[0].engine: "mysql" is not one of "duckdb", "csv", "parquet", "postgres"',
    ],
    [
      [{ ...good, path: "data/north.duckdb" }],
      'datasets[0].path: "data/north.duckdb" is not an absolute file path',
    ],
    [
      [{ ...fileFields, engine: "parquet", path: "/data/parts/*.parquet" }],
      'datasets[0].path: "/data/parts/*.parquet" is not an absolute path to one file (DuckDB would read *, ? or [ as a glob, which tasks may not)',
    ],
    [
      [{ ...fileFields, engine: "csv", path: "/data/north[1].csv" }],
      'datasets[0].path: "/data/north[1].csv" is not an absolute path to one file (DuckDB would read *, ? or [ as a glob, which tasks may not)',
    ],
    [[{ ...good, table: undefined }], "datasets[0].table: is required"],
    [
      [{ ...good, columns: { age: "number" } }],
      'datasets[0].columns.age: "number" is not one of "numeric", "categorical", "boolean"',
    ],
    [
      [{ ...good, columns: { "age; drop": "numeric" } }],
      'datasets[0].columns.<key>: "age; drop" is not an identifier (letters, digits, _)',
    ],
    [[{ ...good, columns: {} }], "datasets[0].columns: must allow at least one column"],
    [
      [{ ...good, columns: { age: "numeric", Age: "numeric" } }],
      "datasets[0].columns: must not list a column twice in different case",
    ],
    [
      [{ ...good, identifiers: ["Age"] }],
      "datasets[0].identifiers[0]: 'Age' is also listed in columns; an identifier can never be allowed",
    ],
    [
      [{ ...good, database: "x" }],
      "datasets[0].database: is not a known field (known: engine, name, columns, identifiers, path, schema, table)",
    ],
    [[good, { ...good }], "datasets[1].name: 'patients' names another dataset too"],
  ])("refuses %j", (value, message) => {
    expect(problem(value)).toBe(message);
  });
});
