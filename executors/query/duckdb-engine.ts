/**
 * DuckDB for the query executor: each run on a connection of its own while it lasts, on an instance of its
 * dataset's that duckdb-instances.ts keeps open between runs (or opens and closes for this run alone, without one),
 * its SQL prepared once per connection.
 *
 * A run that fails marks its instance not to be used again.
 */
import type { DuckDBConnection } from "@duckdb/node-api";
import {
  type DuckDbEngineOptions,
  DuckDbInstances,
  type DuckDbLease,
  type FileDataset,
} from "./duckdb-instances.js";
import type { QueryEngine } from "./engine.js";
import type { Row } from "./results.js";
import { tableRef } from "./sql-text.js";

export type { DuckDbEngineOptions, FileDataset } from "./duckdb-instances.js";

export class DuckDbEngine implements QueryEngine {
  #lease: DuckDbLease | undefined;
  #failed = false;

  /** With `instances`, the run borrows its dataset's kept-open instance; without, it opens one of its own. */
  constructor(
    readonly dataset: FileDataset,
    readonly options: DuckDbEngineOptions = {},
    readonly instances?: DuckDbInstances,
  ) {}

  async open(): Promise<void> {
    const instances = this.instances ?? new DuckDbInstances({ ...this.options, keepOpenMs: 0 });
    this.#lease = await instances.connect(this.dataset);
  }

  async columnTypes(): Promise<Map<string, string>> {
    // Read once per instance (see DuckDbLease.columnTypes); each run gets its own copy.
    const table = tableRef(this.dataset);
    const known = this.#lease?.columnTypes.get(table);
    if (known) return new Map(known);
    const reader = await this.#noting(() => this.#open().runAndReadAll(`DESCRIBE ${table}`));
    const types = new Map<string, string>();
    for (const row of reader.getRowObjectsJS()) {
      if (typeof row.column_name === "string" && typeof row.column_type === "string")
        types.set(row.column_name, row.column_type);
    }
    this.#lease?.columnTypes.set(table, new Map(types));
    return types;
  }

  async query(sql: string, params: readonly (string | number | boolean)[]): Promise<Row[]> {
    const reader = await this.#noting(async () => {
      // Prepared once per kept connection: an earlier run's values are all replaced by this run's.
      const statement = await this.#leased().prepare(sql);
      statement.bind([...params]);
      return statement.runAndReadAll();
    });
    return reader.getRowsJS();
  }

  interrupt(): void {
    // An interrupt that lands as the run ends could reach the next run on this connection: neither is kept.
    this.#failed = true;
    this.#lease?.connection.interrupt();
  }

  async close(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    lease?.release(this.#failed);
  }

  /** Runs `step`, remembering a failure: the instance of a failed run is not used again. */
  async #noting<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      this.#failed = true;
      throw error;
    }
  }

  #open(): DuckDBConnection {
    return this.#leased().connection;
  }

  #leased(): DuckDbLease {
    if (this.#lease === undefined) throw new Error("the DuckDB engine is not open");
    return this.#lease;
  }
}
