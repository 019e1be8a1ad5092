import { describe, expect, it } from "vitest";
import { streams, subjects } from "../protocol/index.js";
import { inboxStreamConfig, outboxStreamConfig } from "./streams.js";

describe("leaf stream configs", () => {
  it("makes INBOX a source of the hub's TASKS in the hub domain, with no subjects of its own", () => {
    expect(inboxStreamConfig({ tre: "a" })).toMatchObject({
      name: streams.inbox,
      subjects: [],
      retention: "limits",
      storage: "file",
      max_age: 14 * 86_400_000 * 1_000_000,
      sources: [
        { name: streams.tasks, filter_subject: subjects.treInbound("a"), external: { api: "$JS.hub.API" } },
      ],
      // A restarted source may copy a Dispatch again; its message id keeps it out (test/faults.test.ts found it).
      duplicate_window: 10 * 60_000 * 1_000_000,
    });
  });

  it("captures only status events and releases in OUTBOX, never heartbeats", () => {
    const config = outboxStreamConfig({ tre: "a", outboxMaxAgeMs: 86_400_000 });
    expect(config).toMatchObject({
      name: streams.outbox,
      subjects: ["tremesh.tre.a.out.status.*", "tremesh.tre.a.out.release.*"],
      retention: "limits",
      max_age: 86_400_000 * 1_000_000,
      duplicate_window: 10 * 60_000 * 1_000_000,
    });
    expect(config.subjects).not.toContain(subjects.heartbeat("a"));
  });

  it("refuses a bad TRE name", () => {
    expect(() => outboxStreamConfig({ tre: "a.b" })).toThrow('`tre`: not a valid TRE name: "a.b"');
  });
});
