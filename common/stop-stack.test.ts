import { describe, expect, it } from "vitest";
import { StopStack } from "./stop-stack.js";

describe("StopStack", () => {
  it("runs the steps once, the last pushed first, and a second stop runs none again", async () => {
    const ran: string[] = [];
    const stops = new StopStack();
    for (const name of ["server", "connection", "service"]) stops.push(async () => ran.push(name));
    await stops.run();
    await stops.run();
    expect(ran).toEqual(["service", "connection", "server"]);
  });

  it("gives a stop made while the first is under way the same run", async () => {
    const ran: string[] = [];
    let release: () => void = () => {};
    const stops = new StopStack();
    stops.push(() => ran.push("first"));
    stops.push(() => new Promise<void>((r) => (release = r)).then(() => ran.push("slow")));
    const one = stops.run();
    const two = stops.run();
    expect(two).toBe(one);
    release();
    await Promise.all([one, two]);
    expect(ran).toEqual(["slow", "first"]);
  });

  it("goes on past a step that fails", async () => {
    const ran: string[] = [];
    const stops = new StopStack();
    stops.push(() => ran.push("server"));
    stops.push(() => {
      throw new Error("already closed");
    });
    stops.push(async () => {
      ran.push("service");
      throw new Error("no answer");
    });
    await expect(stops.run()).resolves.toBeUndefined();
    expect(ran).toEqual(["service", "server"]);
  });

  it("runs a step pushed after the stop began, once", async () => {
    const ran: string[] = [];
    const stops = new StopStack();
    await stops.run();
    let late: () => void = () => {};
    const done = new Promise<void>((r) => (late = r));
    stops.push(() => {
      ran.push("late");
      late();
    });
    await done;
    await stops.run();
    expect(ran).toEqual(["late"]);
  });
});
