/**
 * What a nats-server's cores cost a TRE's leaf: JetStream KV writes at a pace like a busy TRE's (three at once
 * every 10 ms, about 270 a second), into a server that runs its Go code on one core (leaf.yaml `natsServerCores`,
 * default 1) and into one on every core, alternately, several rounds each. The figure is the server's CPU a write.
 *
 *   npm run bench -- cores
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { startNatsServer, toNatsConf } from "../common/index.js";
import { machine, round2 } from "./measure.js";
import { processesCpuSeconds } from "./process-usage.js";

const ROUNDS = 3;
const WINDOW_MS = 8_000;
/** About the size of an airlock output record or a task record. */
const VALUE_BYTES = 2_000;

export interface ServerCoresResult {
  bench: "cores";
  machine: ReturnType<typeof machine>;
  valueBytes: number;
  /** Server CPU a KV write, in µs, per round. */
  oneCore: number[];
  everyCore: number[];
  /** Median of every-core over median of one-core. */
  ratio: number;
}

/** One round: a fresh JetStream server on `maxProcs` cores (undefined: every core); its CPU a write, µs. */
async function cpuPerWrite(maxProcs: number | undefined): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-bench-cores-"));
  try {
    await using server = await startNatsServer({
      name: "cores",
      configText: toNatsConf({ host: "127.0.0.1", port: -1, jetstream: { store_dir: join(dir, "js") } }),
      dir,
      ...(maxProcs === undefined ? {} : { maxProcs }),
    });
    const nc = await connect({ servers: server.clientUrl, noAsyncTraces: true });
    try {
      const kv = await new Kvm(jetstream(nc)).create("CORES", { history: 1 });
      const value = new Uint8Array(VALUE_BYTES);
      let n = 0;
      const put = () => kv.put(`k.${n++ % 500}`, value);
      for (let i = 0; i < 200; i++) await put();
      n = 0;
      const before = processesCpuSeconds([server.pid]);
      const start = Date.now();
      while (Date.now() - start < WINDOW_MS) {
        await Promise.all([put(), put(), put()]);
        await sleep(10);
      }
      return ((processesCpuSeconds([server.pid]) - before) * 1e6) / n;
    } finally {
      await nc.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runServerCoresBench(): Promise<ServerCoresResult> {
  const oneCore: number[] = [];
  const everyCore: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    oneCore.push(round2(await cpuPerWrite(1)));
    everyCore.push(round2(await cpuPerWrite(undefined)));
  }
  return {
    bench: "cores",
    machine: machine(),
    valueBytes: VALUE_BYTES,
    oneCore,
    everyCore,
    ratio: round2(median(everyCore) / median(oneCore)),
  };
}

export function printServerCoresBench(r: ServerCoresResult): void {
  const m = r.machine;
  console.log(
    `server cores — KV writes of ${r.valueBytes} bytes, 3 every 10 ms; ${m.cpu}, ${m.cores} cores, Node ${m.node}, ${m.date}`,
  );
  const show = (xs: readonly number[]) => xs.map((x) => x.toFixed(0)).join(" / ");
  console.log(`nats-server CPU a write, on 1 core             ${show(r.oneCore)} µs`);
  console.log(`nats-server CPU a write, on every core (${m.cores})     ${show(r.everyCore)} µs`);
  console.log(`every core / one core (medians)                ×${r.ratio}`);
}
