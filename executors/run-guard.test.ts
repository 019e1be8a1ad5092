import { describe, expect, it } from "vitest";
import { ExecutorCancelled, ExecutorTimeout } from "./errors.js";
import { RunGuard } from "./run-guard.js";

/** An operation that settles only when interrupted, counting the interrupts. */
function untilInterrupted(): {
  operation: () => Promise<never>;
  interrupt: () => void;
  interrupts: () => number;
} {
  let count = 0;
  let reject: (e: Error) => void = () => {};
  const settled = new Promise<never>((_, r) => {
    reject = r;
  });
  return {
    operation: () => settled,
    interrupt: () => {
      count++;
      if (count === 3) reject(new Error("interrupted by the engine"));
    },
    interrupts: () => count,
  };
}

describe("RunGuard", () => {
  it("interrupts on timeout, and keeps interrupting until the operation settles", async () => {
    using guard = new RunGuard(1);
    const op = untilInterrupted();
    const error = await guard.interruptible(op.operation, op.interrupt).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorTimeout);
    expect((error as ExecutorTimeout).timeoutMs).toBe(1);
    expect((error as Error).cause).toEqual(new Error("interrupted by the engine"));
    expect(op.interrupts()).toBe(3);
  });

  it("ends with ExecutorCancelled when the signal aborts", async () => {
    const abort = new AbortController();
    using guard = new RunGuard(60_000, abort.signal);
    const op = untilInterrupted();
    const run = guard.interruptible(op.operation, op.interrupt);
    abort.abort();
    await expect(run).rejects.toBeInstanceOf(ExecutorCancelled);
    expect(guard.stopped).toBe("cancelled");
  });

  it("does not start an operation once the signal has aborted", async () => {
    using guard = new RunGuard(60_000, AbortSignal.abort());
    let started = false;
    await expect(
      guard.interruptible(
        async () => {
          started = true;
        },
        () => {},
      ),
    ).rejects.toBeInstanceOf(ExecutorCancelled);
    expect(started).toBe(false);
  });

  it("passes results and the operation's own errors through while the run goes on", async () => {
    using guard = new RunGuard(60_000);
    await expect(
      guard.interruptible(
        async () => 7,
        () => {},
      ),
    ).resolves.toBe(7);
    await expect(
      guard.interruptible(
        () => Promise.reject(new RangeError("x")),
        () => {},
      ),
    ).rejects.toBeInstanceOf(RangeError);
  });
});
