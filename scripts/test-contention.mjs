#!/usr/bin/env node
/**
 * `npm run test:contention`: runs `npm test` with CPU-burning processes beside it, so a timing assumption that
 * holds only on an idle machine fails here rather than at random in CI. The burners are stopped however the
 * tests end; the exit code is the tests'.
 *
 *   npm run test:contention                      # two burners
 *   TREMESH_BURNERS=4 npm run test:contention    # another number
 */
import { spawn } from "node:child_process";

const burners = Number(process.env.TREMESH_BURNERS ?? 2);
if (!Number.isInteger(burners) || burners < 0 || burners > 64) {
  console.error(`TREMESH_BURNERS must be a whole number from 0 to 64, got ${process.env.TREMESH_BURNERS}`);
  process.exit(2);
}

// Each burner spins one core until it is killed.
const burning = Array.from({ length: burners }, () =>
  spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
);
const stopBurners = () => {
  for (const b of burning) if (b.exitCode === null && b.signalCode === null) b.kill("SIGKILL");
};
process.on("exit", stopBurners);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    stopBurners();
    process.exit(130);
  });
}

console.log(`test:contention: npm test beside ${burners} CPU-burning process(es)`);
const tests = spawn("npm", ["test"], { stdio: "inherit" });
tests.on("exit", (code, signal) => {
  stopBurners();
  process.exit(code ?? (signal ? 1 : 0));
});
