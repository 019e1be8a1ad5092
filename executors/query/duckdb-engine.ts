/**
 * DuckDB for the query executor: one instance per run, closed when the run ends.
 *
 * - A database file opens with access_mode READ_ONLY and external access disabled from the start,
 *   so a query can neither write nor read any other file.
 * - A CSV or Parquet file is read through a temporary view in an in-memory instance. Before the view
 *   exists, the instance is limited to that one file (allowed_paths), external access is disabled
 *   and the configuration locked, so nothing later can widen it again.
 * Extension auto-install and auto-load are off: a TRE has no network, and nothing is fetched.
 */
import { type DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import type { CsvDataset, DuckDbDataset, ParquetDataset } from "./dataset.js";
import type { QueryEngine } from "./engine.js";
import type { Row } from "./results.js";
import { FILE_VIEW, quoteIdent, quoteLiteral, tableRef } from "./sql-text.js";

export type FileDataset = DuckDbDataset | CsvDataset | ParquetDataset;

export interface DuckDbEngineOptions {
  /** Worker threads for this instance. Default: DuckDB's own choice (one per core). */
  threads?: number;
  /** DuckDB memory_limit for this instance, e.g. "2GB". Default: DuckDB's (80% of RAM). */
  memoryLimit?: string;
}

const NO_EXTENSIONS = { autoinstall_known_extensions: "false", autoload_known_extensions: "false" };

export class DuckDbEngine implements QueryEngine {
  #instance: DuckDBInstance | undefined;
  #connection: DuckDBConnection | undefined;

  constructor(
    readonly dataset: FileDataset,
    readonly options: DuckDbEngineOptions = {},
  ) {}

  async open(): Promise<void> {
    const limits: Record<string, string> = { ...NO_EXTENSIONS };
    if (this.options.threads !== undefined) limits.threads = String(this.options.threads);
    if (this.options.memoryLimit !== undefined) limits.memory_limit = this.options.memoryLimit;
    if (this.dataset.engine === "duckdb") {
      this.#instance = await DuckDBInstance.create(this.dataset.path, {
        ...limits,
        access_mode: "READ_ONLY",
        enable_external_access: "false",
        lock_configuration: "true",
      });
      this.#connection = await this.#instance.connect();
      return;
    }
    this.#instance = await DuckDBInstance.create(":memory:", limits);
    const c = await this.#instance.connect();
    this.#connection = c;
    const path = quoteLiteral(this.dataset.path);
    await c.run(`SET allowed_paths = [${path}]`);
    await c.run("SET enable_external_access = false");
    await c.run("SET lock_configuration = true");
    const reader = this.dataset.engine === "csv" ? "read_csv" : "read_parquet";
    await c.run(`CREATE TEMP VIEW ${quoteIdent(FILE_VIEW)} AS SELECT * FROM ${reader}(${path})`);
  }

  async columnTypes(): Promise<Map<string, string>> {
    const reader = await this.#open().runAndReadAll(`DESCRIBE ${tableRef(this.dataset)}`);
    const types = new Map<string, string>();
    for (const row of reader.getRowObjectsJS()) {
      if (typeof row.column_name === "string" && typeof row.column_type === "string")
        types.set(row.column_name, row.column_type);
    }
    return types;
  }

  async query(sql: string, params: readonly (string | number | boolean)[]): Promise<Row[]> {
    const reader = await this.#open().runAndReadAll(sql, [...params]);
    return reader.getRowsJS();
  }

  interrupt(): void {
    this.#connection?.interrupt();
  }

  async close(): Promise<void> {
    const [connection, instance] = [this.#connection, this.#instance];
    this.#connection = undefined;
    this.#instance = undefined;
    for (const close of [() => connection?.closeSync(), () => instance?.closeSync()]) {
      try {
        close();
      } catch {
        // Closing is best effort: the run's outcome is already decided.
      }
    }
  }

  #open(): DuckDBConnection {
    if (this.#connection === undefined) throw new Error("the DuckDB engine is not open");
    return this.#connection;
  }
}
