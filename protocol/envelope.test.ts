import { randomBytes } from "node:crypto";
import { Prefix } from "@nats-io/nkeys";
import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { describe, expect, it } from "vitest";
import { pack, unpack } from "./codec.js";
import { openEnvelope, openEnvelopeAsync, sealEnvelope, signingInput } from "./envelope.js";
import { RejectCode } from "./errors.js";
import { newId } from "./ids.js";
import { KEYS_KEPT, verifyingKey, verifySignature } from "./keys.js";
import { MemoryReplayGuard } from "./replay-guard.js";
import { key, parties, statusBody, submissionBody, times } from "./test-fixtures.js";

function rejectCode(r: ReturnType<typeof openEnvelope>): string | undefined {
  return r.ok ? undefined : r.error.code;
}

describe("signed envelope", () => {
  const p = parties();

  // A title reaches the TRE reviewer's terminal (`airlock show`): an escape sequence in it cleared their screen.
  it("refuses a Submission whose title holds a control or formatting character, naming the title", () => {
    for (const title of ["\u001b[2Jcleared", "two\nlines", "\u202eevil"])
      expect(
        () => sealEnvelope("submission", { ...submissionBody(), title }, p.researcher),
        JSON.stringify(title),
      ).toThrow(/^title: .* is not one line of text without control or formatting characters$/);
    const plain = { ...submissionBody(), title: "Patients by sex — 2026 (Å, 日本)" };
    expect(
      openEnvelope(sealEnvelope("submission", plain, p.researcher), { trust: p.trust, expect: "submission" })
        .ok,
    ).toBe(true);
  });

  it("opens a message signed by a trusted signer of the right role and returns the typed body", () => {
    const body = submissionBody();
    const r = openEnvelope(sealEnvelope("submission", body, p.researcher), {
      trust: p.trust,
      expect: "submission",
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.type).toBe("submission");
    expect(r.value.signer.name).toBe("alice");
    expect(r.value.body).toEqual(body);
  });

  it("refuses an envelope signed by one key but claiming another signer", () => {
    const bytes = sealEnvelope("submission", submissionBody(), p.researcher);
    const [v, t, , b, s] = unpack(bytes) as unknown[];
    const forged = pack([v, t, p.hub.publicKey, b, s]);
    // The hub is trusted, but not for submissions.
    expect(rejectCode(openEnvelope(forged, { trust: p.trust, expect: "submission" }))).toBe(
      RejectCode.unknownSigner,
    );
    // Claiming another TRE's key for a TRE message: right role, wrong signature.
    const status = sealEnvelope("status", statusBody("a"), p.treA);
    const [v2, t2, , b2, s2] = unpack(status) as unknown[];
    const claimed = pack([v2, t2, p.treB.publicKey, b2, s2]);
    expect(rejectCode(openEnvelope(claimed, { trust: p.trust, expect: "status" }))).toBe(
      RejectCode.badSignature,
    );
  });

  it("refuses a message from a key it does not know", () => {
    const stranger = key();
    const r = openEnvelope(sealEnvelope("submission", submissionBody(), stranger), {
      trust: p.trust,
      expect: "submission",
    });
    expect(rejectCode(r)).toBe(RejectCode.unknownSigner);
  });

  it("refuses every single-bit flip anywhere in the envelope", () => {
    const bytes = sealEnvelope("status", statusBody("a"), p.treA);
    const accepted: number[] = [];
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const mutated = Uint8Array.from(bytes);
      mutated[bit >> 3]! ^= 1 << (bit & 7);
      if (openEnvelope(mutated, { trust: p.trust, expect: "status" }).ok) accepted.push(bit);
    }
    expect(accepted).toEqual([]);
  });

  it("opens on the thread pool exactly as on the caller's thread: the message, and every single-bit flip refused alike", async () => {
    const bytes = sealEnvelope("status", statusBody("a"), p.treA);
    const opts = { trust: p.trust, expect: "status" as const };
    expect(await openEnvelopeAsync(bytes, opts)).toEqual(openEnvelope(bytes, opts));
    const differ: number[] = [];
    const codes = new Set<string | undefined>();
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const mutated = Uint8Array.from(bytes);
      mutated[bit >> 3]! ^= 1 << (bit & 7);
      const sync = rejectCode(openEnvelope(mutated, opts));
      const onPool = rejectCode(await openEnvelopeAsync(mutated, opts));
      if (onPool !== sync || onPool === undefined) differ.push(bit);
      codes.add(onPool);
    }
    expect(differ).toEqual([]);
    // The flips reach the signature check, not only the framing before it.
    expect(codes).toContain(RejectCode.badSignature);
  });

  it("parses a public key once for the messages that follow, never keeps a malformed one, and keeps a bounded number", () => {
    const k = verifyingKey(p.treA.publicKey);
    expect(verifyingKey(p.treA.publicKey), "the same key, parsed once").toBe(k);
    // One character off a key it knows (the checksum no longer holds): refused, every time.
    const last = p.treA.publicKey.at(-1) === "A" ? "B" : "A";
    const off = `${p.treA.publicKey.slice(0, -1)}${last}`;
    for (let i = 0; i < 2; i++) expect(() => verifyingKey(off)).toThrow(/not a valid nkey public key/);
    // A stream of new keys (a hostile sender's) pushes the oldest out rather than growing without bound.
    const randomKey = () => new TextDecoder().decode(Codec.encode(Prefix.User, randomBytes(32)));
    for (let i = 0; i < KEYS_KEPT; i++) verifyingKey(randomKey());
    const again = verifyingKey(p.treA.publicKey);
    expect(again, "parsed again once pushed out").not.toBe(k);
    expect(verifySignature(again, new Uint8Array([1]), p.treA.sign(new Uint8Array([1])))).toBe(true);
  });

  it("never accepts a signature made for one type as another type", () => {
    const body = pack(statusBody("a"));
    const sig = p.treA.sign(signingInput(1, "dispatch", body));
    const k = verifyingKey(p.treA.publicKey);
    expect(verifySignature(k, signingInput(1, "dispatch", body), sig)).toBe(true);
    expect(verifySignature(k, signingInput(1, "release", body), sig)).toBe(false);
    // The same for whole envelopes: a TRE-signed status relabelled as a release (same signer role).
    const status = sealEnvelope("status", statusBody("a"), p.treA);
    const [v, , s, b, sg] = unpack(status) as unknown[];
    const relabelled = pack([v, "release", s, b, sg]);
    expect(rejectCode(openEnvelope(relabelled, { trust: p.trust, expect: "release" }))).toBe(
      RejectCode.badSignature,
    );
  });

  it("refuses a Dispatch presented on a subject that carries Releases", () => {
    const dispatch = sealEnvelope(
      "dispatch",
      {
        id: newId(),
        ...times(),
        taskId: newId(),
        tre: "a",
        submission: sealEnvelope("submission", submissionBody(), p.researcher),
      },
      p.hub,
    );
    expect(rejectCode(openEnvelope(dispatch, { trust: p.trust, expect: "release" }))).toBe(
      RejectCode.wrongType,
    );
  });

  it("refuses an expired message, and accepts it when verifying a stored one on purpose", () => {
    const now = Date.now();
    const bytes = sealEnvelope("status", { ...statusBody("a"), ...times(now - 7200_000) }, p.treA);
    expect(rejectCode(openEnvelope(bytes, { trust: p.trust, expect: "status", now }))).toBe(
      RejectCode.expired,
    );
    expect(openEnvelope(bytes, { trust: p.trust, expect: "status", now, allowExpired: true }).ok).toBe(true);
  });

  it("refuses a message issued in the future or valid for too long", () => {
    const now = Date.now();
    const future = sealEnvelope("status", { ...statusBody("a"), ...times(now + 3600_000) }, p.treA);
    expect(rejectCode(openEnvelope(future, { trust: p.trust, expect: "status", now }))).toBe(
      RejectCode.badTimestamps,
    );
    const forever = sealEnvelope(
      "status",
      { ...statusBody("a"), iat: now, exp: now + 365 * 86400_000 },
      p.treA,
    );
    expect(rejectCode(openEnvelope(forever, { trust: p.trust, expect: "status", now }))).toBe(
      RejectCode.badTimestamps,
    );
  });

  it("refuses a replayed id but not a fresh one", () => {
    const replay = new MemoryReplayGuard();
    const bytes = sealEnvelope("status", statusBody("a"), p.treA);
    expect(openEnvelope(bytes, { trust: p.trust, expect: "status", replay }).ok).toBe(true);
    expect(rejectCode(openEnvelope(bytes, { trust: p.trust, expect: "status", replay }))).toBe(
      RejectCode.replayed,
    );
    expect(
      openEnvelope(sealEnvelope("status", statusBody("a"), p.treA), {
        trust: p.trust,
        expect: "status",
        replay,
      }).ok,
    ).toBe(true);
  });

  it("refuses a TRE signing for another TRE, and a message for another TRE", () => {
    const bForA = sealEnvelope("status", statusBody("b"), p.treA);
    expect(rejectCode(openEnvelope(bForA, { trust: p.trust, expect: "status" }))).toBe(RejectCode.wrongTre);
    const forB = sealEnvelope(
      "cancel",
      { id: newId(), ...times(), taskId: newId(), tre: "b", reason: "researcher asked" },
      p.hub,
    );
    expect(rejectCode(openEnvelope(forB, { trust: p.trust, expect: "cancel", tre: "a" }))).toBe(
      RejectCode.wrongTre,
    );
  });

  it("refuses an oversize envelope before decoding it", () => {
    const bytes = sealEnvelope("submission", submissionBody(), p.researcher);
    const r = openEnvelope(bytes, { trust: p.trust, expect: "submission", maxBytes: bytes.length - 1 });
    expect(rejectCode(r)).toBe(RejectCode.oversize);
  });

  it("names the bad field of a signed but malformed body", () => {
    const body = { ...submissionBody(), tres: ["a", "Bad TRE"] };
    const bodyBytes = pack(body);
    const sig = p.researcher.sign(signingInput(1, "submission", bodyBytes));
    const bytes = pack([1, "submission", p.researcher.publicKey, bodyBytes, sig]);
    const r = openEnvelope(bytes, { trust: p.trust, expect: "submission" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe(RejectCode.malformed);
    expect(r.error.field).toBe("tres[1]");
    expect(r.error.message).toContain('tres[1]: "Bad TRE" is not a TRE name');
  });

  it("will not seal a body that fails its own schema", () => {
    expect(() =>
      sealEnvelope("status", { ...statusBody("a"), state: "finished" as "running" }, p.treA),
    ).toThrow(/state/);
  });
});
