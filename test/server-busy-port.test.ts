/**
 * `tremesh hub start` and `tremesh leaf start` on a real nats-server whose port is taken: one line that names
 * the port, the config field to change and the server's log, and the bad-input exit code.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { type FederationFiles, writeFederation } from "../admin/federation-files.js";
import { run } from "../cli/main.js";
import { listenOnFreePort } from "./harness/busy-port.js";

let dir: string;
let files: FederationFiles;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-busy-port-"));
  files = await writeFederation(dir, {
    tres: ["a"],
    leafExtra: () => ({
      datasets: [{ name: "patients", engine: "csv", path: "./patients.csv", columns: { age: "numeric" } }],
      projects: [{ name: "diabetes", researchers: ["alice"], analyses: ["count"], datasets: ["patients"] }],
    }),
  });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A copy of `file` beside it (its relative paths still resolve) with `ports` changed, and the log file its
 * nats-server writes (`dataDir/server/NAME.log`).
 */
async function withPorts(
  file: string,
  name: string,
  ports: Record<string, number>,
): Promise<{ config: string; log: string }> {
  const config = parse(await readFile(file, "utf8")) as { ports?: Record<string, number>; dataDir: string };
  config.ports = { ...config.ports, ...ports };
  const path = file.replace(/\.yaml$/, `-busy-${Object.values(ports).join("-")}.yaml`);
  await writeFile(path, stringify(config), { mode: 0o600 });
  return { config: path, log: resolve(dirname(file), config.dataDir, "server", `${name}.log`) };
}

async function tremesh(args: string[]): Promise<{ code: number; err: string[] }> {
  const err: string[] = [];
  const code = await run(args, { out: () => {}, err: (l) => err.push(l) });
  return { code, err };
}

describe("a nats-server port already in use", () => {
  it("makes `tremesh hub start` say which port, which field of hub.yaml and where the log is, in one line", async () => {
    await using busy = await listenOnFreePort();
    const { config, log } = await withPorts(files.hubConfig, "hub", { leaf: busy.port });
    const { code, err } = await tremesh(["hub", "start", "--config", config]);
    expect(err).toEqual([
      `tremesh hub: nats-server "hub" could not start: leafnode port ${busy.port} (127.0.0.1) is already in use; ` +
        `free it or change ports.leaf in ${config} (the server's log: ${log})`,
    ]);
    expect(code).toBe(3);
  });

  it("makes `tremesh leaf start` say the same of its client port", async () => {
    await using busy = await listenOnFreePort();
    const { config, log } = await withPorts(files.leafConfigs.a!, "leaf", { client: busy.port });
    const { code, err } = await tremesh(["leaf", "start", "--config", config]);
    expect(err).toEqual([
      `tremesh leaf: nats-server "leaf" could not start: client port ${busy.port} (127.0.0.1) is already in use; ` +
        `free it or change ports.client in ${config} (the server's log: ${log})`,
    ]);
    expect(code).toBe(3);
  });
});
