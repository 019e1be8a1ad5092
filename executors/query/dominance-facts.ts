/**
 * The dominance query's rows → one DominanceFact per summary cell, by group key, indexed like the
 * output's cells (which is how the airlock names them). A cell whose values are all null has no rows
 * here and gets total 0 and no top values: there is nothing in it to dominate.
 */
import type { CellKey } from "../../protocol/index.js";
import { DOMINANCE_TOP_VALUES, type DominanceFact } from "../executor.js";
import { ResultShapeError, type Row, toDouble, toKeyValue } from "./results.js";

/** `groups` is the number of group-by columns; `cells` the output's cells in their released order. */
export function dominanceFacts(
  cells: readonly { key: CellKey }[],
  groups: number,
  rows: readonly Row[],
): DominanceFact[] {
  // Keys go through the same conversion as the output's, so JSON text identifies a group in both.
  const byKey = new Map<string, { total: number; top: number[] }>();
  for (const r of rows) {
    const k = JSON.stringify(r.slice(0, groups).map(toKeyValue));
    const total = toDouble(r[groups]);
    const a = toDouble(r[groups + 1]);
    const entry = byKey.get(k) ?? { total, top: [] };
    entry.top.push(a);
    byKey.set(k, entry);
  }
  const facts = cells.map((cell, i) => {
    const k = JSON.stringify(cell.key);
    const entry = byKey.get(k);
    byKey.delete(k);
    const top = (entry?.top ?? []).sort((x, y) => y - x);
    if (top.length > DOMINANCE_TOP_VALUES) throw new ResultShapeError("a cell has too many top values");
    return { at: `cells[${i}]`, total: entry?.total ?? 0, top };
  });
  if (byKey.size > 0) throw new ResultShapeError("a dominance group matches no summary cell");
  return facts;
}
