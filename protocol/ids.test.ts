import { describe, expect, it } from "vitest";
import { idTime, newId } from "./ids.js";

describe("newId", () => {
  it("makes ULIDs that carry their time, sort by it, and never repeat, across many refills of the random pool", () => {
    const at = Date.UTC(2026, 11, 6, 21, 0, 0);
    const ids = Array.from({ length: 2_000 }, () => newId(at));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(idTime(id)).toBe(at);
    }
    expect(newId(at) < newId(at + 1)).toBe(true);
    // The random part is spread: every base-32 digit turns up in its last place (a stuck or repeating pool would not).
    expect(new Set(ids.map((id) => id.at(-1))).size).toBe(32);
  });
});
