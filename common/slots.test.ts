import { describe, expect, it } from "vitest";
import { Slots } from "./slots.js";

describe("Slots", () => {
  it("lets at most `size` in at once and the waiters in arrival order", async () => {
    const slots = new Slots(2);
    const order: string[] = [];
    const gates = new Map<string, () => void>();
    const job = (name: string) =>
      slots.run(async () => {
        order.push(`start ${name}`);
        await new Promise<void>((resolve) => gates.set(name, resolve));
        order.push(`end ${name}`);
      });
    const all = ["a", "b", "c", "d"].map(job);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(["start a", "start b"]);
    expect(slots.inUse).toBe(2);
    gates.get("b")?.();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(["start a", "start b", "end b", "start c"]);
    gates.get("a")?.();
    await new Promise((r) => setImmediate(r));
    gates.get("c")?.();
    await new Promise((r) => setImmediate(r));
    gates.get("d")?.();
    await Promise.all(all);
    expect(order.filter((o) => o.startsWith("start"))).toEqual(["start a", "start b", "start c", "start d"]);
    expect(slots.inUse).toBe(0);
  });

  it("gives the slot back when the work throws", async () => {
    const slots = new Slots(1);
    await expect(slots.run(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(slots.inUse).toBe(0);
    await expect(slots.run(async () => 7)).resolves.toBe(7);
  });

  it("takes a slot at once only when one is free and nobody is queued for it", async () => {
    const slots = new Slots(1);
    expect(slots.tryAcquire()).toBe(true);
    expect(slots.tryAcquire()).toBe(false);
    const waiter = slots.acquire();
    slots.release(); // to the waiter, not to a later tryAcquire
    await waiter;
    expect(slots.tryAcquire()).toBe(false);
    slots.release();
    expect(slots.inUse).toBe(0);
    expect(slots.tryAcquire()).toBe(true);
  });

  it("refuses a size that could never let anything in", () => {
    expect(() => new Slots(0)).toThrow(RangeError);
    expect(() => new Slots(1.5)).toThrow(RangeError);
  });
});
