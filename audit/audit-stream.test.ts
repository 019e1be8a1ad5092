import { describe, expect, it } from "vitest";
import { streams, subjects } from "../protocol/index.js";
import { auditStreamConfig, DEFAULT_MAX_RECORD_BYTES } from "./audit-stream.js";

describe("audit stream configuration", () => {
  it("keeps records for ever on file, one subject, with deletes, purges and roll-ups banned", () => {
    expect(auditStreamConfig({ scope: "hub" })).toMatchObject({
      name: streams.audit,
      subjects: ["tremesh.audit.hub"],
      storage: "file",
      retention: "limits",
      max_age: 0,
      max_msgs: -1,
      max_bytes: -1,
      max_msg_size: DEFAULT_MAX_RECORD_BYTES,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
      duplicate_window: 120_000 * 1_000_000,
    });
  });

  it("keeps the duplicate window within a short age limit, which the server requires", () => {
    expect(auditStreamConfig({ scope: "a", maxAgeMs: 1_000 })).toMatchObject({
      max_age: 1_000 * 1_000_000,
      duplicate_window: 1_000 * 1_000_000,
    });
  });

  it.each(["", "A", "a.b", "a*", ">", "a b", "x".repeat(33)])("refuses the audit scope %j", (scope) => {
    expect(() => subjects.audit(scope)).toThrow(RangeError);
    expect(() => auditStreamConfig({ scope })).toThrow(RangeError);
  });

  it("refuses a negative or fractional age limit", () => {
    expect(() => auditStreamConfig({ scope: "hub", maxAgeMs: -1 })).toThrow(RangeError);
    expect(() => auditStreamConfig({ scope: "hub", maxAgeMs: 0.5 })).toThrow(RangeError);
  });
});
