/**
 * How a query engine's own error becomes one of the executor sentinels, for every run that reads a
 * dataset through an engine: the query executor's queries and the container executor's extracts. Whether
 * trying again can help is decided here, once, so both executors flag the same failure the same way.
 */
import { FieldError } from "../../protocol/index.js";
import { ExecutorFailed, ExecutorTimeout, isExecutorError } from "../errors.js";
import type { DatasetDefinition } from "./dataset.js";
import { ResultShapeError } from "./results.js";

/** PostgreSQL SQLSTATEs after which the same task may succeed later. */
const RETRYABLE_SQLSTATE = /^(08|53|57P0[123]|40001|40P01)/;
const TRANSIENT_NET = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENOTFOUND",
  "EPIPE",
]);

/**
 * A connection lost mid-run before the server said why (an administrator ending the session races its own
 * message): node-postgres's own error, or the socket's reset, reported as SQLSTATE 08006 (connection_failure).
 */
const CONNECTION_LOST = /^Connection terminated unexpectedly/;
const SOCKET_LOST = new Set(["ECONNRESET", "EPIPE"]);

/**
 * Whether a PostgreSQL or network error code says trying again later may succeed (the server restarting, a
 * connection refused or dropped, a serialisation conflict). Shared with the leaf's credential broker, which meets
 * the same server first.
 */
export function isTransientDatabaseCode(code: string | undefined): boolean {
  return code !== undefined && (RETRYABLE_SQLSTATE.test(code) || TRANSIENT_NET.has(code));
}

/**
 * Turns an engine error into a sentinel. Database messages stay in `cause`: they can quote data
 * values (a failed conversion names the value), and this message may travel to the researcher.
 */
export function classifyEngineError(error: unknown, dataset: DatasetDefinition, timeoutMs: number): Error {
  if (isExecutorError(error)) return error;
  if (error instanceof ResultShapeError || error instanceof FieldError)
    return new ExecutorFailed(`the query result could not be described (${error.message})`, {
      retryable: false,
      cause: error,
    });
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e.code === "string" ? e.code : undefined;
  if (dataset.engine === "postgres") {
    // query_canceled while our guard had not stopped the run: the server's statement_timeout fired first.
    if (code === "57014") return new ExecutorTimeout(timeoutMs, { cause: error });
    if (code === "28P01" || code === "28000")
      return new ExecutorFailed("PostgreSQL refused the task's credential", {
        retryable: false,
        cause: error,
      });
    const lost =
      (code !== undefined && SOCKET_LOST.has(code)) ||
      (code === undefined && typeof e.message === "string" && CONNECTION_LOST.test(e.message));
    const sqlState = lost ? "08006" : code;
    const retryable = isTransientDatabaseCode(sqlState);
    return new ExecutorFailed(`PostgreSQL could not run the analysis (${sqlState ?? "no SQLSTATE"})`, {
      retryable,
      cause: error,
    });
  }
  const kind = typeof e.message === "string" ? /^([A-Za-z ]{1,40} Error):/.exec(e.message)?.[1] : undefined;
  // An IO error is usually the file being locked or replaced by the TRE's own loader: worth another try.
  return new ExecutorFailed(`DuckDB could not run the analysis (${kind ?? "unknown error"})`, {
    retryable: kind === "IO Error",
    cause: error,
  });
}
