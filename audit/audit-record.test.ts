import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { newId, pack } from "../protocol/index.js";
import { AuditBreak, AuditEntryError } from "./audit-errors.js";
import {
  AUDIT_GENESIS,
  type AuditEntry,
  auditHash,
  auditLimits,
  auditList,
  checkAuditEntry,
  decodeAuditRecord,
  encodeAuditRecord,
} from "./audit-record.js";

const chain = { seq: 7, prev: "ab".repeat(32), at: 1_700_000_000_000 };
const entry: AuditEntry = {
  actor: "hub-submission-1",
  action: "task.submitted",
  taskId: newId(),
  outputId: "out-1.csv",
  tre: "north-1",
  details: { tres: 2, dryRun: false, state: "queued" },
};

function rejection(bad: unknown): AuditEntryError {
  try {
    checkAuditEntry(bad as AuditEntry);
  } catch (error) {
    if (error instanceof AuditEntryError) return error;
    throw error;
  }
  throw new Error("entry was accepted");
}

describe("audit records", () => {
  it("round-trips an entry with its chain fields", () => {
    const decoded = decodeAuditRecord(encodeAuditRecord(chain, checkAuditEntry(entry)));
    expect(decoded).toEqual({ ok: true, record: { ...chain, ...entry } });
  });

  it("hashes stored bytes with sha256, and starts the chain at 64 zeros", () => {
    expect(auditHash(new Uint8Array())).toBe(
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    expect(AUDIT_GENESIS).toMatch(/^0{64}$/);
  });

  it("copies the entry, so a later change by the caller cannot alter what is recorded", () => {
    const details: Record<string, string> = { state: "queued" };
    const checked = checkAuditEntry({ actor: "a", action: "task.queued", details });
    details.state = "changed";
    expect(checked.details).toEqual({ state: "queued" });
  });

  it.each([
    [{ actor: "a" }, "action"],
    [{ actor: "has space", action: "task.submitted" }, "actor"],
    [{ actor: "a".repeat(auditLimits.actorChars + 1), action: "task.submitted" }, "actor"],
    [{ actor: "a", action: "submitted" }, "action"],
    [{ actor: "a", action: "Task.Submitted" }, "action"],
    [{ actor: "a", action: "a.b.c.d.e" }, "action"],
    [{ actor: "a", action: "task.submitted", taskId: "not-a-ulid" }, "taskId"],
    [{ actor: "a", action: "task.submitted", tre: "North" }, "tre"],
    [{ actor: "a", action: "task.submitted", outputId: "../x" }, "outputId"],
    [{ actor: "a", action: "task.submitted", rows: [1, 2] }, "rows"],
    [{ actor: "a", action: "task.submitted", details: { rows: [1, 2] } }, "details.rows"],
    [{ actor: "a", action: "task.submitted", details: { value: { nested: 1 } } }, "details.value"],
    [{ actor: "a", action: "task.submitted", details: { n: Number.NaN } }, "details.n"],
    [{ actor: "a", action: "task.submitted", details: { note: "x".repeat(257) } }, "details.note"],
    [{ actor: "a", action: "task.submitted", details: { "bad key": 1 } }, "details"],
    [
      {
        actor: "a",
        action: "task.submitted",
        details: Object.fromEntries([...Array(17).keys()].map((i) => [`k${i}`, i])),
      },
      "details",
    ],
  ])("refuses a bad entry %j, naming %s", (bad, field) => {
    expect(rejection(bad).field).toBe(field);
  });

  it("never echoes a refused value in its message", () => {
    const error = rejection({ actor: "a", action: "task.submitted", details: { secret: "p".repeat(300) } });
    expect(error.message).not.toContain("ppp");
  });

  it.each([
    ["garbage", Uint8Array.of(0xc1), AuditBreak.badEncoding],
    ["empty bytes", new Uint8Array(), AuditBreak.badEncoding],
    ["trailing bytes", Uint8Array.of(...pack({ a: 1 }), 0x00), AuditBreak.badEncoding],
    ["a truncated record", encodeAuditRecord(chain, entry).subarray(0, 20), AuditBreak.badEncoding],
    ["an array", pack([1, 2, 3]), AuditBreak.badEncoding],
    ["a string", pack("record"), AuditBreak.badEncoding],
    [
      "a missing seq",
      pack({ prev: chain.prev, at: 1, actor: "a", action: "task.x" }),
      AuditBreak.missingField,
    ],
    ["a missing actor", pack({ ...chain, action: "task.x" }), AuditBreak.missingField],
    ["an extra field", pack({ ...chain, actor: "a", action: "task.x", data: "rows" }), AuditBreak.extraField],
    [
      "a __proto__ key",
      pack(
        new Map<string, unknown>([
          ...Object.entries({ ...chain, actor: "a", action: "task.x" }),
          ["__proto__", {}],
        ]),
      ),
      AuditBreak.extraField,
    ],
    ["seq 0", pack({ ...chain, seq: 0, actor: "a", action: "task.x" }), AuditBreak.badField],
    ["a float seq", pack({ ...chain, seq: 1.5, actor: "a", action: "task.x" }), AuditBreak.badField],
    ["a short prev", pack({ ...chain, prev: "ab", actor: "a", action: "task.x" }), AuditBreak.badField],
    [
      "a binary prev",
      pack({ ...chain, prev: new Uint8Array(32), actor: "a", action: "task.x" }),
      AuditBreak.badField,
    ],
    ["a date for at", pack({ ...chain, at: new Date(0), actor: "a", action: "task.x" }), AuditBreak.badField],
    [
      "an undefined field",
      pack({ ...chain, actor: "a", action: "task.x", tre: undefined }),
      AuditBreak.badField,
    ],
    [
      "nested details",
      pack({ ...chain, actor: "a", action: "task.x", details: { a: {} } }),
      AuditBreak.badField,
    ],
  ])("reads %s as a reason, never an exception", (_what, bytes, reason) => {
    const decoded = decodeAuditRecord(bytes);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toBe(reason);
  });

  it("never throws on random bytes", () => {
    for (let i = 0; i < 2_000; i++) {
      const decoded = decodeAuditRecord(randomBytes(1 + (i % 64)));
      expect(typeof decoded.ok).toBe("boolean");
    }
  });
});

describe("auditList", () => {
  it("keeps a short list whole and cuts a long one to the detail limit, saying how many it left out", () => {
    expect(auditList(["a", "b", "c"])).toBe("a,b,c");
    const tres = Array.from({ length: 100 }, (_, i) => `tre-${String(i).padStart(3, "0")}`);
    const cut = auditList(tres);
    expect(cut.length).toBeLessThanOrEqual(auditLimits.detailStringChars);
    const [, more] = /,… (\d+) more$/.exec(cut) ?? [];
    const kept = cut.replace(/,… \d+ more$/, "").split(",");
    expect(kept).toEqual(tres.slice(0, kept.length));
    expect(kept.length + Number(more)).toBe(100);
    // The record it goes into is valid.
    expect(() =>
      checkAuditEntry({ actor: "hub", action: "task.dispatched", details: { tres: cut } }),
    ).not.toThrow();
  });
});
