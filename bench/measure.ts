/** Tiny benchmarking helpers: run a function for a fixed time, report operations per second. */
import os from "node:os";

export interface Rate {
  name: string;
  ops: number;
  seconds: number;
  perSecond: number;
}

/** Runs `fn` in batches until `durationMs` has passed (after a short warm-up) and returns its rate. */
export function rate(name: string, fn: (i: number) => void, durationMs = 1000): Rate {
  for (let i = 0; i < 200; i++) fn(i);
  let ops = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(durationMs) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) fn(ops + i);
    ops += 100;
    now = process.hrtime.bigint();
  }
  const seconds = Number(now - start) / 1e9;
  return { name, ops, seconds, perSecond: ops / seconds };
}

/** What a figure was measured on: state it next to every number. */
export function machine(): { date: string; cpu: string; cores: number; memoryGiB: number; node: string } {
  return {
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
  };
}

export function formatRate(r: Rate): string {
  return `${r.name.padEnd(44)} ${Math.round(r.perSecond).toLocaleString("en-GB").padStart(12)} /s`;
}
