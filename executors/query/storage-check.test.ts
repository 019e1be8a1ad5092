import { describe, expect, it } from "vitest";
import { AnalysisRefused, ExecutorFailed } from "../errors.js";
import { compile } from "./compile.js";
import type { DatasetDefinition } from "./dataset.js";
import { checkStorage, storageClass } from "./storage-check.js";

const dataset: DatasetDefinition = {
  name: "patients",
  engine: "csv",
  path: "/data/p.csv",
  columns: { age: "numeric", region: "categorical", code: "categorical", smoker: "boolean" },
};
const storage = new Map([
  ["age", "INTEGER"],
  ["region", "VARCHAR"],
  ["code", "BIGINT"],
  ["smoker", "BOOLEAN"],
]);

describe("storage classes", () => {
  it.each([
    ["INTEGER", "number"],
    ["double precision", "number"],
    ["DECIMAL(10,2)", "number"],
    ["numeric", "number"],
    ["character varying", "text"],
    ["VARCHAR", "text"],
    ["ENUM('a', 'b')", "text"],
    ["boolean", "boolean"],
    ["DATE", "other"],
    ["USER-DEFINED", "other"],
  ])("%s is %s", (name, cls) => {
    expect(storageClass(name)).toBe(cls);
  });
});

describe("checkStorage", () => {
  const q = (filters: unknown[]) =>
    compile({ kind: "count", dataset: "patients", groupBy: ["smoker"], filters } as never, dataset);

  it("passes values whose types match the columns", () => {
    expect(() =>
      checkStorage(
        q([
          { column: "region", op: "eq", value: "north" },
          { column: "code", op: "in", value: [1, 2] },
        ]),
        dataset,
        storage,
      ),
    ).not.toThrow();
  });

  it("refuses a categorical value of the wrong type, naming the value", () => {
    expect(() => checkStorage(q([{ column: "region", op: "eq", value: 3 }]), dataset, storage)).toThrow(
      new AnalysisRefused("filters[0].value", "'region' holds text values; expected a string, got number"),
    );
    expect(() => checkStorage(q([{ column: "code", op: "in", value: [1, "2"] }]), dataset, storage)).toThrow(
      /^filters\[0\]\.value\[1\]: 'code' holds number values; expected a number, got string$/,
    );
  });

  it("fails, not retryably, when the table disagrees with the TRE's declaration", () => {
    const missing = new Map(storage);
    missing.delete("smoker");
    expect(() => checkStorage(q([]), dataset, missing)).toThrow(ExecutorFailed);
    expect(() => checkStorage(q([]), dataset, missing)).toThrow(
      /allows column 'smoker', but the table has no such column/,
    );
    const wrong = new Map(storage).set("age", "VARCHAR");
    let error: unknown;
    try {
      checkStorage(q([{ column: "age", op: "gt", value: 1 }]), dataset, wrong);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ExecutorFailed);
    expect((error as ExecutorFailed).retryable).toBe(false);
    expect((error as ExecutorFailed).message).toBe(
      "dataset 'patients' declares column 'age' numeric, but the table holds VARCHAR",
    );
  });
});
