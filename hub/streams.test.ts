import { describe, expect, it } from "vitest";
import { streams, subjects } from "../protocol/index.js";
import { fedResultsStreamConfig, resultsStreamConfig, tasksStreamConfig } from "./streams.js";

const DAY_NS = 86_400_000 * 1_000_000;

describe("hub stream configs", () => {
  it("keeps a TRE's tasks for 14 days by default, deduplicated over 10 minutes, never as a work queue", () => {
    expect(tasksStreamConfig({ tre: "north-1" })).toMatchObject({
      name: streams.tasks,
      subjects: [subjects.treInbound("north-1")],
      retention: "limits",
      storage: "file",
      max_age: 14 * DAY_NS,
      duplicate_window: 10 * 60_000 * 1_000_000,
    });
    expect(tasksStreamConfig({ tre: "a", tasksMaxAgeMs: 3 * 86_400_000 }).max_age).toBe(3 * DAY_NS);
  });

  it("sources a TRE's results from its leaf's OUTBOX through the one API prefix the leaf answers", () => {
    expect(resultsStreamConfig({ tre: "a" })).toMatchObject({
      name: "RESULTS_a",
      subjects: [],
      retention: "limits",
      sources: [{ name: streams.outbox, external: { api: subjects.outboxSourceApi("a") } }],
      // A restarted source copies again what was in flight: repeats are dropped as long as TASKS drops them.
      duplicate_window: 10 * 60_000 * 1_000_000,
    });
  });

  it("keeps every stream on as many nodes as asked: one on a lone hub, three on a cluster", () => {
    expect(tasksStreamConfig({ tre: "a" }).num_replicas).toBe(1);
    expect(tasksStreamConfig({ tre: "a", replicas: 3 }).num_replicas).toBe(3);
    expect(resultsStreamConfig({ tre: "a", replicas: 3 }).num_replicas).toBe(3);
    expect(fedResultsStreamConfig({ tres: ["a"], replicas: 3 }).num_replicas).toBe(3);
  });

  it("sources every TRE's results into the FED view, each filtered to that TRE and on its own prefixes", () => {
    const config = fedResultsStreamConfig({ tres: ["a", "north-1"] });
    expect(config).toMatchObject({ name: streams.fedResults, subjects: [], retention: "limits" });
    expect(config.sources).toEqual([
      {
        name: "RESULTS_a",
        filter_subject: subjects.treOutbound("a"),
        external: { api: "$JS.TRE-a.API", deliver: "tremesh.fed.src.a" },
      },
      {
        name: "RESULTS_north-1",
        filter_subject: subjects.treOutbound("north-1"),
        external: { api: "$JS.TRE-north-1.API", deliver: "tremesh.fed.src.north-1" },
      },
    ]);
    // Ids from different TREs meet here: the smallest duplicate window nats-server allows.
    expect(config.duplicate_window).toBe(100 * 1_000_000);
  });

  it("keeps TASKS' duplicate window within a short retention, which JetStream requires", () => {
    expect(tasksStreamConfig({ tre: "a", tasksMaxAgeMs: 2_000 }).duplicate_window).toBe(2_000 * 1_000_000);
  });

  it("refuses a bad TRE name, a TRE listed twice and a duration that does not fit", () => {
    expect(() => tasksStreamConfig({ tre: "A" })).toThrow('`tre`: not a valid TRE name: "A"');
    expect(() => fedResultsStreamConfig({ tres: ["a", "x.y"] })).toThrow("`tres[1]`: not a valid TRE name");
    expect(() => fedResultsStreamConfig({ tres: ["a", "a"] })).toThrow("`tres`: a TRE appears twice");
    expect(() => tasksStreamConfig({ tre: "a", tasksMaxAgeMs: 200 * 86_400_000 })).toThrow(/tasksMaxAgeMs/);
    expect(() => tasksStreamConfig({ tre: "a", tasksMaxAgeMs: -1 })).toThrow(/tasksMaxAgeMs/);
  });
});
