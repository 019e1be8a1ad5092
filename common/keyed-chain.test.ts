import { describe, expect, it } from "vitest";
import { KeyedChain } from "./keyed-chain.js";

const tick = () => new Promise((r) => setTimeout(r, 1));

describe("KeyedChain", () => {
  it("runs one key's work in call order, never overlapping, and different keys at once", async () => {
    const chain = new KeyedChain();
    const log: string[] = [];
    const running = new Map<string, number>();
    let overlap = false;
    const job = (key: string, n: number) => async () => {
      if (running.get(key)) overlap = true;
      running.set(key, 1);
      log.push(`${key}${n} start`);
      await tick();
      log.push(`${key}${n} end`);
      running.set(key, 0);
    };
    await Promise.all([
      chain.run("a", job("a", 1)),
      chain.run("a", job("a", 2)),
      chain.run("b", job("b", 1)),
    ]);
    expect(overlap).toBe(false);
    expect(log.filter((l) => l.startsWith("a"))).toEqual(["a1 start", "a1 end", "a2 start", "a2 end"]);
    // b started while a1 ran: different keys do not wait for each other.
    expect(log.indexOf("b1 start")).toBeLessThan(log.indexOf("a1 end"));
    await tick();
    expect(chain.size).toBe(0);
  });

  it("goes on with a key's next work after one fails, and gives each caller its own outcome", async () => {
    const chain = new KeyedChain();
    const failed = chain.run("a", async () => {
      throw new Error("store unavailable");
    });
    const next = chain.run("a", async () => "ran");
    await expect(failed).rejects.toThrow("store unavailable");
    await expect(next).resolves.toBe("ran");
  });

  it("starts work on a later tick, never inside `run`", () => {
    const chain = new KeyedChain();
    let started = false;
    void chain.run("a", async () => {
      started = true;
    });
    expect(started).toBe(false);
  });
});
