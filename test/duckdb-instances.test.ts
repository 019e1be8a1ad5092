/**
 * The query executor's kept-open DuckDB instances, on real DuckDB files: a run reuses its dataset's open
 * instance (and an earlier run's connection and prepared statements), a rewritten file gets a fresh one, a failed
 * run's instance is not used again, and an unused instance lets go of its file (so the TRE's loader can open it)
 * once `keepOpenMs` has passed.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/wait-for.js";
import type { DuckDbDataset } from "../executors/query/dataset.js";
import { DuckDbEngine } from "../executors/query/duckdb-engine.js";
import { DuckDbInstances } from "../executors/query/duckdb-instances.js";
import { duckDbFileFree as fileFree, lockDuckDbFile } from "./harness/executor-conformance.js";

const dir = mkdtempSync(join(tmpdir(), "tremesh-duckdb-instances-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A DuckDB file with one table `t` of `rows` rows, written (and closed) as a TRE's loader would. */
async function writeTable(path: string, rows: number): Promise<void> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  await c.run(`CREATE OR REPLACE TABLE t AS SELECT range AS x FROM range(${rows})`);
  c.closeSync();
  instance.closeSync();
}

function dataset(path: string): DuckDbDataset {
  return { name: "t", engine: "duckdb", path, table: "t", columns: { x: "numeric" }, identifiers: [] };
}

async function count(instances: DuckDbInstances, d: DuckDbDataset): Promise<number> {
  const lease = await instances.connect(d);
  try {
    const rows = (await lease.connection.runAndReadAll("SELECT count(*) FROM t")).getRowsJS();
    return Number(rows[0]?.[0]);
  } finally {
    lease.release(false);
  }
}

describe("the query executor's DuckDB instances", () => {
  it("keeps a dataset's instance open across runs, each on a connection of its own, and several at once", async () => {
    const path = join(dir, "reuse.duckdb");
    await writeTable(path, 10);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    const a = await instances.connect(dataset(path));
    const b = await instances.connect(dataset(path));
    expect(a.connection).not.toBe(b.connection);
    a.release(false);
    b.release(false);
    expect(await count(instances, dataset(path))).toBe(10);
    // While kept open, the file is held: a loader waits (that is what keepOpenMs bounds).
    expect(await fileFree(path)).toBe(false);
    await instances.close();
    expect(await fileFree(path)).toBe(true);
  });

  it("lets go of the file once no run has used it for keepOpenMs, so the TRE's loader can write it", async () => {
    const path = join(dir, "idle.duckdb");
    await writeTable(path, 3);
    const instances = new DuckDbInstances({ keepOpenMs: 200 });
    expect(await count(instances, dataset(path))).toBe(3);
    await waitFor("the idle instance to let go of its file", () => fileFree(path), { timeoutMs: 30_000 });
    // The loader rewrites it; the next run reads what it wrote.
    await writeTable(path, 7);
    expect(await count(instances, dataset(path))).toBe(7);
    await instances.close();
  });

  it("opens a fresh instance for a file replaced since the last run, not the old one's view of it", async () => {
    const path = join(dir, "replaced.duckdb");
    await writeTable(path, 4);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    expect(await count(instances, dataset(path))).toBe(4);
    // Written elsewhere and moved over it, as a loader that never opens the live file does.
    const next = join(dir, "replaced-next.duckdb");
    await writeTable(next, 9);
    await promisify(execFile)("mv", [next, path]);
    expect(await count(instances, dataset(path))).toBe(9);
    await instances.close();
  });

  it("reads a table's column types once per instance, and again for a file with new columns", async () => {
    const path = join(dir, "types.duckdb");
    await writeTable(path, 2);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    const typesOf = async () => {
      const engine = new DuckDbEngine(dataset(path), {}, instances);
      await engine.open();
      try {
        return Object.fromEntries(await engine.columnTypes());
      } finally {
        await engine.close();
      }
    };
    expect(await typesOf()).toEqual({ x: "BIGINT" });
    // Kept with the instance, for the next run's lease.
    const lease = await instances.connect(dataset(path));
    expect([...lease.columnTypes.values()].map((types) => Object.fromEntries(types))).toEqual([
      { x: "BIGINT" },
    ]);
    lease.release(false);
    // A run cannot change the copy later runs get.
    const engine = new DuckDbEngine(dataset(path), {}, instances);
    await engine.open();
    (await engine.columnTypes()).set("y", "VARCHAR");
    await engine.close();
    expect(await typesOf()).toEqual({ x: "BIGINT" });
    // The loader adds a column (written elsewhere, moved over it): the new instance reads the types again.
    const next = join(dir, "types-next.duckdb");
    const instance = await DuckDBInstance.create(next);
    const c = await instance.connect();
    await c.run("CREATE TABLE t AS SELECT range AS x, 'a' AS y FROM range(3)");
    c.closeSync();
    instance.closeSync();
    await promisify(execFile)("mv", [next, path]);
    expect(await typesOf()).toEqual({ x: "BIGINT", y: "VARCHAR" });
    await instances.close();
  });

  it("keeps a run's connection and the statements it prepared for the next run, which binds its own values", async () => {
    const path = join(dir, "kept.duckdb");
    await writeTable(path, 10);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    const sql = "SELECT count(*) FROM t WHERE x < $1";
    const below = async (limit: number) => {
      const engine = new DuckDbEngine(dataset(path), {}, instances);
      await engine.open();
      try {
        return Number((await engine.query(sql, [limit]))[0]?.[0]);
      } finally {
        await engine.close();
      }
    };
    expect([await below(3), await below(7), await below(100)]).toEqual([3, 7, 10]);
    const first = await instances.connect(dataset(path));
    const statement = await first.prepare(sql);
    first.release(false);
    const next = await instances.connect(dataset(path));
    expect(next.connection).toBe(first.connection);
    expect(await next.prepare(sql)).toBe(statement);
    // A run that fails takes its connection with it: the next run's is a new one, on a new instance.
    next.release(true);
    const after = await instances.connect(dataset(path));
    expect(after.connection).not.toBe(first.connection);
    expect(await after.prepare(sql)).not.toBe(statement);
    after.release(false);
    expect(await below(5)).toBe(5);
    await instances.close();
  });

  it("does not use again the instance of a failed run, and opens a new one for the next run", async () => {
    const path = join(dir, "failed.duckdb");
    await writeTable(path, 5);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    const first = await instances.connect(dataset(path));
    first.release(true);
    const second = await instances.connect(dataset(path));
    // The failed run's instance is closed (its connection gone); the new run's works.
    expect(
      Number((await second.connection.runAndReadAll("SELECT count(*) FROM t")).getRowsJS()[0]?.[0]),
    ).toBe(5);
    second.release(false);
    await instances.close();
  });

  it("fails a run whose file its loader holds, and opens the file for the next run once it is free", async () => {
    const path = join(dir, "locked.duckdb");
    await writeTable(path, 2);
    const instances = new DuckDbInstances({ keepOpenMs: 60_000 });
    {
      await using _loader = await lockDuckDbFile(path); // another process holds it read-write
      await expect(instances.connect(dataset(path))).rejects.toThrow(/lock/i);
    }
    expect(await count(instances, dataset(path))).toBe(2);
    await instances.close();
  });
});
