import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { pack } from "./codec.js";
import { openEnvelope, sealEnvelope, signingInput } from "./envelope.js";
import { ProtocolError, RejectCode } from "./errors.js";
import { messageTypes } from "./messages.js";
import { parties, statusBody, submissionBody } from "./test-fixtures.js";

/** A small deterministic PRNG, so a failing case can be reproduced from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const codes = new Set<string>(Object.values(RejectCode));

describe("hostile bytes", () => {
  const p = parties();
  const seeds = [
    sealEnvelope("submission", submissionBody(), p.researcher),
    sealEnvelope("status", statusBody("a"), p.treA),
  ];

  function mutate(rand: () => number): Uint8Array {
    const base = Uint8Array.from(seeds[Math.floor(rand() * seeds.length)]!);
    const kind = Math.floor(rand() * 5);
    if (kind === 0) return randomBytes(Math.floor(rand() * 600));
    if (kind === 1) {
      for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i++)
        base[Math.floor(rand() * base.length)] = Math.floor(rand() * 256);
      return base;
    }
    if (kind === 2) return base.subarray(0, Math.floor(rand() * base.length));
    if (kind === 3) {
      const cut = Math.floor(rand() * base.length);
      return Uint8Array.from([
        ...base.subarray(0, cut),
        ...randomBytes(Math.floor(rand() * 32)),
        ...base.subarray(cut),
      ]);
    }
    // Well-formed outer layer with hostile fields, correctly signed: only the schema stands in the way.
    const junk: unknown[] = [
      null,
      -1,
      2 ** 53,
      "x".repeat(300),
      {},
      [],
      { __proto__: { id: "x" } },
      randomBytes(8),
      true,
      1.5,
    ];
    const body = {
      ...submissionBody(),
      [["id", "iat", "tres", "analysis", "extra"][Math.floor(rand() * 5)]!]:
        junk[Math.floor(rand() * junk.length)],
    };
    const bodyBytes = pack(body);
    return pack([
      1,
      "submission",
      p.researcher.publicKey,
      bodyBytes,
      p.researcher.sign(signingInput(1, "submission", bodyBytes)),
    ]);
  }

  it("gives a typed error, never a throw or an acceptance, for 10,000 random and mutated byte strings", () => {
    const rand = prng(20261121);
    const seen: Record<string, number> = {};
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const bytes = mutate(rand);
      if (seeds.some((seed) => Buffer.from(seed).equals(bytes))) continue; // a mutation that changed nothing
      const r = openEnvelope(bytes, { trust: p.trust, expect: messageTypes });
      if (r.ok) {
        accepted++;
        continue;
      }
      expect(r.error).toBeInstanceOf(ProtocolError);
      expect(codes.has(r.error.code)).toBe(true);
      seen[r.error.code] = (seen[r.error.code] ?? 0) + 1;
    }
    expect(accepted).toBe(0);
    expect(seen[RejectCode.malformed]).toBeGreaterThan(1000);
    expect(seen[RejectCode.badSignature]).toBeGreaterThan(100);
  });
});
