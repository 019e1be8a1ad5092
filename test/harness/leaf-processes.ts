/**
 * TREs' leaves run as a TRE runs one: each its own `tremesh leaf start --config leaf.yaml` process (the built CLI,
 * dist/), with its agent and its own nats-server, in a process group of its own, logging to `<dir>/logs/`. The
 * demo's way of starting them (cli/demo-federation.ts), for a federation the harness wrote; each start waits for
 * the TRE's link on the hub. Stopped by PID, leaves first, on disposal.
 *
 * @example
 * await using leaves = await startLeafProcesses(fed, ["a", "b"]);
 * const agents = leaves.agentPids();
 */
import { readFileSync } from "node:fs";
import { demoProcesses } from "../../cli/demo-federation.js";
import { DemoPids } from "../../cli/demo-pids.js";
import { stopDemo } from "../../cli/demo-stop.js";
import type { Federation } from "./federation.js";

export interface LeafProcesses extends AsyncDisposable {
  /** Each TRE's `tremesh leaf start` process (its agent), by TRE. */
  agentPids(): Map<string, number>;
  /** Each TRE's leaf nats-server, the child its leaf process started, by TRE. */
  serverPids(): Map<string, number>;
}

/** Starts the leaves of `tres`, `concurrency` at a time. */
export async function startLeafProcesses(
  fed: Federation,
  tres: readonly string[],
  concurrency = 4,
): Promise<LeafProcesses> {
  const started = { dir: fed.files.dir, pids: DemoPids.create(fed.files.dir) };
  const agents = new Map<string, number>();
  const processes = demoProcesses(started);
  const stop = async () => {
    await stopDemo(started.pids);
  };
  try {
    const queue = [...tres];
    // One start at a time; the links come up `concurrency` at a time.
    let starting = Promise.resolve();
    const worker = async () => {
      for (let tre = queue.shift(); tre !== undefined; tre = queue.shift()) {
        const config = fed.files.leafConfigs[tre];
        if (!config) throw new RangeError(`no TRE ${tre}`);
        starting = starting.then(async () => {
          agents.set(tre, await processes.start(`leaf-${tre}`, ["leaf", "start", "--config", config]));
        });
        await starting;
        await Promise.race([fed.waitForLink(tre), processes.died]);
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, tres.length) }, worker));
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    agentPids: () => new Map(agents),
    serverPids: () =>
      new Map([...agents].flatMap(([tre, pid]) => childrenOf(pid).map((child) => [tre, child] as const))),
    [Symbol.asyncDispose]: stop,
  };
}

/** The processes `pid` started (Linux `/proc/<pid>/task/<pid>/children`); none once it is gone. */
function childrenOf(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim();
    return text === "" ? [] : text.split(" ").map(Number);
  } catch {
    return [];
  }
}
