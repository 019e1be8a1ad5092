/**
 * Quoting names and TRE-configured paths into SQL text, the same rule in DuckDB and PostgreSQL. The query
 * executor (executors/query/sql-text.ts) and the synthetic-data writers (fixtures/) share it; values never
 * pass through here: they are bound parameters.
 */

/** Double-quoted identifier, with embedded quotes doubled (the same rule in DuckDB and PostgreSQL). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Single-quoted string literal, for TRE-configured file paths in DuckDB settings (never researcher input). */
export function quoteLiteral(text: string): string {
  if (text.includes("\0")) throw new Error("a SQL string literal cannot hold a NUL character");
  return `'${text.replaceAll("'", "''")}'`;
}
