/**
 * Group keys of output cells, and the one order every engine and the aggregator share. Databases
 * sort text by their own collations (DuckDB and a PostgreSQL cluster in en_US disagree), so cells
 * are ordered here instead, by a rule that depends on nothing but the values.
 */

/** One group-by column's value in a cell key; null is a group of its own. */
export type KeyValue = string | number | boolean | null;
export type CellKey = KeyValue[];

const TYPE_RANK = { boolean: 0, number: 1, string: 2 } as const;

/**
 * The one cell order every engine and the aggregator share, independent of database collations:
 * position by position, booleans (false, true) before numbers (ascending) before strings (by UTF-16
 * code units), null last.
 */
export function compareKeys(a: readonly KeyValue[], b: readonly KeyValue[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const c = compareKeyValues(a[i] ?? null, b[i] ?? null);
    if (c !== 0) return c;
  }
  return 0;
}

export function compareKeyValues(x: KeyValue, y: KeyValue): number {
  if (x === y) return 0;
  if (x === null) return 1;
  if (y === null) return -1;
  const tx = TYPE_RANK[typeof x as keyof typeof TYPE_RANK];
  const ty = TYPE_RANK[typeof y as keyof typeof TYPE_RANK];
  if (tx !== ty) return tx - ty;
  return x < y ? -1 : x > y ? 1 : 0;
}
