/**
 * Runs the benchmarks and writes each one's figures to bench/results/<name>.json.
 *
 *   npm run bench               # all
 *   npm run bench -- crypto     # Ed25519 and envelope cost per message
 *   npm run bench -- floor      # the NATS floor: leaf round trip, JetStream publish
 *   npm run bench -- e2e        # submit → combined result, 3 TREs, auto-release; CPU and crypto share per task
 *   npm run bench -- throughput # subtasks per second across 10 TREs
 *   npm run bench -- fanout     # one count to 20, 50 and 100 TREs; memory per TRE
 *   npm run bench -- container  # the container executor beside the query executor
 *   npm run bench -- contention # throughput and the 100-TRE fan-out, quiet and beside two CPU burners
 *   npm run bench -- deployed   # e2e and throughput with each TRE's leaf its own process, as TREs deploy it
 *   npm run bench -- page       # the researcher's page in Chromium: form sent → combined table shown
 *   npm run bench -- cores      # a leaf's nats-server CPU a KV write, on one core and on every core
 *
 * The NATS floor is measured once per run, before the first benchmark that needs it (and written to floor.json);
 * each of those reports its figures as ratios to it and carries the floor figures it used in its own JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { printContainerBench, runContainerBench } from "./container.js";
import { printContentionBench, runContentionBench } from "./contention.js";
import { printCryptoBench, runCryptoBench } from "./crypto.js";
import { printDeployedBench, runDeployedBench } from "./deployed.js";
import { printE2eBench, runE2eBench } from "./e2e.js";
import { printFanoutBench, runFanoutBench } from "./fanout.js";
import { type FloorResult, printFloorBench, runFloorBench } from "./floor.js";
import { printPageBench, runPageBench } from "./page.js";
import { printServerCoresBench, runServerCoresBench } from "./server-cores.js";
import { printThroughputBench, runThroughputBench } from "./throughput.js";

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "results");

function writeResult(name: string, result: unknown): void {
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}

let floor: Promise<FloorResult> | undefined;
const measureFloor = (): Promise<FloorResult> => {
  floor ??= runFloorBench().then((r) => {
    printFloorBench(r);
    writeResult("floor", r);
    return r;
  });
  return floor;
};

/** A benchmark that reports ratios to the floor: run it against this run's floor and print its table. */
function againstFloor<R>(run: (floor: FloorResult) => Promise<R>, print: (r: R) => void) {
  return async () => {
    const r = await run(await measureFloor());
    print(r);
    return r;
  };
}

const benches: Record<string, () => Promise<unknown> | unknown> = {
  crypto: () => {
    const r = runCryptoBench();
    printCryptoBench(r);
    return r;
  },
  floor: measureFloor,
  e2e: againstFloor((f) => runE2eBench(f), printE2eBench),
  throughput: againstFloor((f) => runThroughputBench(f), printThroughputBench),
  fanout: againstFloor((f) => runFanoutBench(f), printFanoutBench),
  contention: againstFloor((f) => runContentionBench(f), printContentionBench),
  deployed: againstFloor((f) => runDeployedBench(f), printDeployedBench),
  page: againstFloor((f) => runPageBench(f), printPageBench),
  cores: async () => {
    const r = await runServerCoresBench();
    printServerCoresBench(r);
    return r;
  },
  container: async () => {
    const r = await runContainerBench();
    printContainerBench(r);
    return r;
  },
};

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(", ")} (known: ${Object.keys(benches).join(", ")})`);
  process.exit(2);
}
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const started = performance.now();
  writeResult(name, await benches[name]!());
  console.log(`(${name}: ${Math.round((performance.now() - started) / 1000)} s)\n`);
}
