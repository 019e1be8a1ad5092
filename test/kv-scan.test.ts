/**
 * `latestValues` against a real JetStream: every key's latest value under a filter in one pass, deleted keys left
 * out, other keys of the bucket left alone, an empty match answered at once, and thousands of records each once.
 */
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { latestValues } from "../common/index.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";

let s: JetStreamServer;

beforeAll(async () => {
  s = await startJetStreamServer("kv-scan");
}, 60_000);

afterAll(async () => {
  await s?.stop();
});

const text = (v: Uint8Array) => new TextDecoder().decode(v);

describe("latestValues", () => {
  it("reads the latest value of every key under the filter, leaves deleted keys out, and no other keys in", async () => {
    const kv = await new Kvm(s.js).create("SCAN_A", { history: 1 });
    await kv.put("task.1", "one");
    await kv.put("task.2", "two");
    await kv.put("task.1", "one, again");
    await kv.put("task.3", "three");
    await kv.delete("task.3");
    await kv.put("output.1.x", "not a task");
    const values = await latestValues(s.js, "SCAN_A", "task.*");
    expect(values.map((v) => [v.key, text(v.value)]).sort()).toEqual([
      ["task.1", "one, again"],
      ["task.2", "two"],
    ]);
    // Nothing under the filter: answered at once, not waited on.
    expect(await latestValues(s.js, "SCAN_A", "egress.*")).toEqual([]);
  });

  it("reads thousands of records in one pass, each once", async () => {
    const kv = await new Kvm(s.js).create("SCAN_B", { history: 1 });
    const n = 3_000;
    for (let i = 0; i < n; i += 100)
      await Promise.all(Array.from({ length: 100 }, (_, j) => kv.put(`task.${i + j}`, `value ${i + j}`)));
    const values = await latestValues(s.js, "SCAN_B", "task.>");
    expect(values).toHaveLength(n);
    expect(new Set(values.map((v) => `${v.key}=${text(v.value)}`)).size).toBe(n);
    expect(values.every((v) => text(v.value) === `value ${v.key.slice("task.".length)}`)).toBe(true);
  }, 120_000);
});
