/**
 * What the query executor needs from a database, whichever it is: open (read-only), describe the
 * dataset's columns, run one parameterised statement, interrupt it, close. DuckDB and PostgreSQL
 * implement it; nothing outside `executors/query/` sees engine types.
 */
import type { Row } from "./results.js";

export interface QueryEngine {
  /** Connects or opens read-only. May be interrupted (closing the half-open connection). */
  open(): Promise<void>;
  /** Column name → the engine's type name, for the columns the session may read. */
  columnTypes(): Promise<Map<string, string>>;
  /** Runs one statement with bound values; rows are positional. */
  query(sql: string, params: readonly (string | number | boolean)[]): Promise<Row[]>;
  /** Asks the engine to stop the statement in flight (best effort; may be called repeatedly). */
  interrupt(): void;
  /** Closes everything `open` made. Idempotent; never throws. */
  close(): Promise<void>;
}
