/**
 * Where this process's CPU goes, from V8's sampling profiler (the one `node --cpu-prof` writes), started in
 * process through `node:inspector` around the code being measured. Each sample is charged to the innermost
 * frame on its stack that belongs to a category (signing inside `sealEnvelope` counts as signing, msgpack
 * inside it as encoding); samples in no category are "other".
 *
 * This measures the crypto and encoding cost where it is really paid — every envelope of every size, at every
 * party in this process — rather than multiplying operation counts by a micro-benchmark's cost. Its limits:
 * it sees the main JavaScript thread only (DuckDB's worker threads and libuv's are not sampled); the time
 * between samples is wall time, so on a busy machine a sample also carries the wait of a descheduled thread
 * (read the categories as shares of the busy time, not as CPU time); and the profiler's own overhead slows
 * what it watches slightly.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { round2 } from "./measure.js";

interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Sampled CPU categories. A sample goes to the innermost frame on its stack that matches one (first match in
 * this list when a frame matches several). `crypto` and `encoding` are the figures of the issue; the others show
 * what else costs CPU on the same path.
 */
export const CPU_CATEGORIES = [
  {
    name: "sign/verify (Ed25519)",
    kind: "crypto",
    url: /\/protocol\/keys\.js$|^node:internal\/crypto\/(sig|keys)$/,
  },
  {
    name: "nkeys library (key parsing, connection auth)",
    kind: "crypto",
    url: /\/tweetnacl\/|\/@nats-io\/nkeys\//,
  },
  { name: "hashing (sha256)", kind: "crypto", url: /^node:internal\/crypto\/hash$/ },
  { name: "msgpack encode/decode", kind: "encoding", url: /\/msgpackr\/|\/protocol\/codec\.js$/ },
  {
    name: "envelope framing and message validation",
    kind: "encoding",
    url: /\/protocol\/(envelope|validate|messages|trust|replay-guard)\.js$/,
  },
  {
    // nats.js builds a RequestError and a TimeoutError, stack traces and all, for every request (each KV get and
    // JetStream publish): the `noAsyncTraces` connection option turns that off.
    name: "nats.js request error contexts (async traces)",
    kind: "other",
    url: /\/@nats-io\/nats-core\/lib\/errors\.js$/,
  },
  { name: "DuckDB (open, query, close) on the main thread", kind: "other", url: /\/@duckdb\// },
] as const;

export type CpuCategory = (typeof CPU_CATEGORIES)[number]["name"];

/** Milliseconds of main-thread time by what V8 was doing. */
export interface CpuAttribution {
  /** Main-thread time sampled while not idle, in ms. */
  busyMs: number;
  /** Garbage collection: paid for allocation anywhere, so not charged to a category. */
  gcMs: number;
  categories: Record<CpuCategory, number>;
}

/** Runs `fn` under the sampling profiler and attributes the samples taken meanwhile (written raw too if TREMESH_CPU_PROFILE asks). */
export async function profileCpu<T>(
  fn: () => Promise<T>,
  samplingIntervalUs = 100,
): Promise<{ value: T; cpu: CpuAttribution }> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: samplingIntervalUs });
    await session.post("Profiler.start");
    const stop = async () => ((await session.post("Profiler.stop")) as { profile: Profile }).profile;
    let value: T;
    try {
      value = await fn();
    } catch (error) {
      await stop();
      throw error;
    }
    const profile = await stop();
    writeIfAsked(profile);
    return { value, cpu: attribute(profile) };
  } finally {
    session.disconnect();
  }
}

function attribute(profile: Profile): CpuAttribution {
  const category = categoriesByNode(profile);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out: CpuAttribution = {
    busyMs: 0,
    gcMs: 0,
    categories: Object.fromEntries(CPU_CATEGORIES.map((c) => [c.name, 0])) as Record<CpuCategory, number>,
  };
  // timeDeltas[i] is the time before sample i; the time sample i stands for is the next delta.
  for (const [i, id] of profile.samples.entries()) {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const name = byId.get(id)?.callFrame.functionName;
    if (name === "(idle)") continue;
    out.busyMs += ms;
    if (name === "(garbage collector)") out.gcMs += ms;
    const c = category.get(id);
    if (c) out.categories[c] += ms;
  }
  out.busyMs = round2(out.busyMs);
  out.gcMs = round2(out.gcMs);
  for (const c of CPU_CATEGORIES) out.categories[c.name] = round2(out.categories[c.name]);
  return out;
}

/** Each node's category: its own frame's if it has one, else its caller's (so the innermost match wins). */
function categoriesByNode(profile: Profile): Map<number, CpuCategory | undefined> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<number, CpuCategory | undefined>();
  const visit = (id: number, inherited: CpuCategory | undefined) => {
    const node = byId.get(id);
    if (!node) return;
    const own = CPU_CATEGORIES.find((c) => c.url.test(node.callFrame.url))?.name;
    out.set(id, own ?? inherited);
    for (const child of node.children ?? []) visit(child, own ?? inherited);
  };
  const root = profile.nodes[0];
  if (root) visit(root.id, undefined);
  return out;
}

/**
 * With TREMESH_CPU_PROFILE set to a file path, starts the sampling profiler and returns a function that stops it
 * and writes the raw profile there, or with `label` beside it under a name of its own (open it in Chrome's
 * DevTools, or any .cpuprofile viewer); otherwise returns a function that does nothing. For looking at where a
 * benchmark's measured window spends its time.
 */
export async function rawProfileIfAsked(label?: string): Promise<() => Promise<void>> {
  if (!process.env.TREMESH_CPU_PROFILE) return async () => {};
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return async () => {
    const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
    session.disconnect();
    writeIfAsked(profile, label);
  };
}

/** Writes `profile` where TREMESH_CPU_PROFILE asks (see `rawProfileIfAsked`), if it does. */
function writeIfAsked(profile: Profile, label?: string): void {
  const asked = process.env.TREMESH_CPU_PROFILE;
  if (!asked) return;
  // One file per labelled window: `run.cpuprofile` becomes `run-100.cpuprofile`.
  const path = label ? asked.replace(/(\.cpuprofile)?$/, (ext) => `-${label}${ext}`) : asked;
  writeFileSync(path, JSON.stringify(profile));
  console.log(`CPU profile of the window written to ${path}`);
}
