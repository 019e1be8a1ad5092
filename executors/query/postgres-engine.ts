/**
 * PostgreSQL for the query executor: one connection per run with the task's own ephemeral role
 * (made by the leaf's credential broker, able to read only the allowed columns). The session is
 * read-only, its statements are bounded by statement_timeout (the run's budget, enforced by the
 * server even if this process stalls), and an interrupt is a real CancelRequest.
 *
 * Numbers: int8 is parsed to bigint and numeric to a JS number here, so results.ts sees the same
 * value types as from DuckDB (pg would otherwise hand both over as strings).
 */
import pg from "pg";
import type { PostgresCredential } from "../executor.js";
import type { PostgresDataset } from "./dataset.js";
import type { QueryEngine } from "./engine.js";
import { sendCancelRequest, sessionKeys } from "./postgres-cancel.js";
import type { Row } from "./results.js";

const INT8_OID = 20;
const NUMERIC_OID = 1700;

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") => {
    if (oid === INT8_OID) return (text: string) => BigInt(text);
    if (oid === NUMERIC_OID) return (text: string) => Number(text);
    return format === "binary" ? pg.types.getTypeParser(oid, "binary") : pg.types.getTypeParser(oid, "text");
  }) as pg.CustomTypesConfig["getTypeParser"],
};

export interface PostgresEngineOptions {
  taskId: string;
  /** The run's budget: the connect timeout and the server-side statement_timeout. */
  timeoutMs: number;
}

export class PostgresEngine implements QueryEngine {
  readonly #client: pg.Client;
  #connected = false;
  #closed = false;
  /** Why the connection ended, when it ended between statements: the cause the next statement fails with. */
  #lost: unknown;

  constructor(
    readonly dataset: PostgresDataset,
    readonly credential: PostgresCredential,
    options: PostgresEngineOptions,
  ) {
    this.#client = new pg.Client({
      host: credential.host,
      port: credential.port,
      database: credential.database,
      user: credential.user,
      password: credential.password,
      application_name: `tremesh task ${options.taskId}`,
      connectionTimeoutMillis: options.timeoutMs,
      statement_timeout: options.timeoutMs,
      types,
    });
    // A dropped connection surfaces as the failed query's error; without a listener it would crash the process.
    this.#client.on("error", (error) => {
      this.#lost ??= error;
    });
  }

  async open(): Promise<void> {
    await this.#client.connect();
    this.#connected = true;
    await this.#statement((c) => c.query("SET default_transaction_read_only = on"));
    // PostgreSQL ≥ 14: notice a vanished client during a long statement instead of running on.
    await this.#statement((c) => c.query("SET client_connection_check_interval = 1000")).catch(() => {});
  }

  /**
   * One statement. A session the server ended between statements (an administrator's pg_terminate_backend, a
   * restart) fails the next one with node-postgres's "not queryable", which names no fault: the server's own
   * reason (57P01…) is thrown instead, so the run is classified as the connection loss it is.
   */
  async #statement<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
    try {
      return await run(this.#client);
    } catch (error) {
      const named = typeof (error as { code?: unknown }).code === "string";
      throw !named && this.#lost !== undefined ? this.#lost : error;
    }
  }

  async columnTypes(): Promise<Map<string, string>> {
    // information_schema shows only the columns this role holds a privilege on: identifiers stay invisible.
    const result = await this.#statement((c) =>
      c.query<{ column_name: string; data_type: string }>(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2",
        [this.dataset.schema, this.dataset.table],
      ),
    );
    return new Map(result.rows.map((r) => [r.column_name, r.data_type]));
  }

  async query(sql: string, params: readonly (string | number | boolean)[]): Promise<Row[]> {
    const result = await this.#statement((c) =>
      c.query<unknown[]>({ text: sql, values: [...params], rowMode: "array" }),
    );
    return result.rows;
  }

  interrupt(): void {
    if (this.#closed) return;
    const keys = this.#connected ? sessionKeys(this.#client) : undefined;
    if (keys === undefined) {
      // Still logging in: abandon the connection attempt.
      void this.close();
      return;
    }
    void sendCancelRequest(this.credential.host, this.credential.port, keys);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.end().catch(() => {});
  }
}
