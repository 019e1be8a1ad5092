/**
 * Runs the benchmarks and writes each one's figures to bench/results/<name>.json.
 *
 *   npm run bench            # all
 *   npm run bench -- crypto  # one
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { printContainerBench, runContainerBench } from "./container.js";
import { printCryptoBench, runCryptoBench } from "./crypto.js";

const benches: Record<string, () => Promise<unknown> | unknown> = {
  crypto: () => {
    const r = runCryptoBench();
    printCryptoBench(r);
    return r;
  },
  container: async () => {
    const r = await runContainerBench();
    printContainerBench(r);
    return r;
  },
};

const resultsDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench", "results");
const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !(w in benches));
if (unknown.length > 0) {
  console.error(`unknown benchmark: ${unknown.join(", ")} (known: ${Object.keys(benches).join(", ")})`);
  process.exit(2);
}
mkdirSync(resultsDir, { recursive: true });
for (const name of wanted.length > 0 ? wanted : Object.keys(benches)) {
  const result = await benches[name]!();
  writeFileSync(join(resultsDir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
}
