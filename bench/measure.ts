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

/** A latency distribution, in ms, rounded to 0.01 ms. */
export interface Latency {
  samples: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/** Nearest-rank percentiles of `samplesMs` (no interpolation: every figure is a latency that happened). */
export function latency(samplesMs: readonly number[]): Latency {
  if (samplesMs.length === 0) throw new RangeError("no samples");
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!;
  return {
    samples: sorted.length,
    p50Ms: round2(at(0.5)),
    p90Ms: round2(at(0.9)),
    p99Ms: round2(at(0.99)),
    meanMs: round2(sorted.reduce((s, x) => s + x, 0) / sorted.length),
    minMs: round2(sorted[0]!),
    maxMs: round2(sorted[sorted.length - 1]!),
  };
}

export function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** `figure / floor`, to three significant digits: how many floors a figure costs (or what fraction of one). */
export function ratio(figure: number, floor: number): number {
  return Number((figure / floor).toPrecision(3));
}

export function formatLatency(name: string, l: Latency): string {
  const ms = (x: number) => x.toFixed(2).padStart(9);
  return `${name.padEnd(52)} p50 ${ms(l.p50Ms)} ms  p99 ${ms(l.p99Ms)} ms  (n=${l.samples})`;
}
