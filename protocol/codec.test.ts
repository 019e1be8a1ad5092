import { describe, expect, it } from "vitest";
import { pack, unpack } from "./codec.js";

describe("codec", () => {
  it("round-trips bodies with bytes, nested objects and large integers", () => {
    const v = { a: 1, b: "x", c: new Uint8Array([1, 2, 3]), d: { e: [true, null, 2.5] }, t: 1795227920684 };
    const back = unpack(pack(v)) as typeof v;
    expect(back).toEqual({ ...v, c: expect.any(Uint8Array) });
    expect([...back.c]).toEqual([1, 2, 3]);
  });

  it("refuses trailing bytes, so an accepted message has one byte form", () => {
    const bytes = pack([1, 2, 3]);
    expect(() => unpack(Uint8Array.from([...bytes, 0xc0]))).toThrow();
  });
});
