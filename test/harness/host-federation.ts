/**
 * A federation spread over separate network hosts (./netns.ts): the hub on one host, each TRE's leaf on a host
 * of its own, and the researcher's and the admin's CLI on a desk host. Its files are written as an operator
 * writes them (`writeFederation`, config mode), then moved onto the network: the hub listens on its host's
 * address, each leaf dials that address, the researcher's and the admin's profiles name it; a TRE's reviewers
 * stay inside their TRE (their profile reaches the leaf on the TRE host's loopback).
 *
 * `transport: "tls"` (the default) gives the hub a certificate naming its host's address, from a CA made for the
 * run that every leaf.yaml and profile pins (`tls://` URLs); `"insecure"` is the plaintext control: no TLS
 * anywhere, with the `insecure: true` that hub.yaml, leaf.yaml and profiles then need for a non-loopback address. Every party is its own OS
 * process started with the real CLI (`node bin/tremesh.mjs hub start --config …`, `leaf start --config …`) inside
 * its host, and every CLI command a person types is one more process on that person's host.
 *
 * Runs the built CLI (dist/): build first with `npx tsc -p tsconfig.build.json`.
 *
 * @example
 * await using fed = await startHostFederation({ tres: ["a", "b"], leafExtra });
 * const r = await fed.cli(["status", taskId, "--json"], "alice");
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { type FederationFiles, type FederationPlan, writeFederation } from "../../admin/federation-files.js";
import { createFederationCa, issueCertificate } from "../../admin/index.js";
import { packageRoot } from "../../cli/demo-federation.js";
import { waitFor } from "../../common/index.js";
import type { Leafz } from "../../common/nats-monitor.js";
import type { CliResult } from "./federation.js";
import { createHostNetwork, type HostNetwork, logText, type NetworkHost } from "./netns.js";

/** The hub's host address, and the first TRE's (the next TREs count up from it), and the desk's. */
export const HUB_ADDRESS = "198.51.100.1";
const FIRST_TRE_ADDRESS = 11;
const DESK_ADDRESS = "198.51.100.200";

export interface HostFederationOptions extends FederationPlan {
  /** "tls" (default): every link to the hub over TLS, the hub's certificate pinned; "insecure": all plaintext. */
  transport?: "tls" | "insecure";
  /**
   * Changes each config file before anything starts, as an operator would edit it (TLS sections, `insecure`).
   * `kind` says whose file it is; `dir` is the federation's folder, where further files may be written.
   */
  edit?: (
    kind: "hub" | "leaf" | "profile",
    name: string,
    config: Record<string, unknown>,
    dir: string,
  ) => void | Promise<void>;
  /** Data files to write into the federation's folder before the leaves start (name → writer). */
  data?: Record<string, (path: string) => Promise<void>>;
}

export interface HostFederation extends AsyncDisposable {
  readonly dir: string;
  readonly files: FederationFiles;
  readonly net: HostNetwork;
  readonly hub: NetworkHost;
  /** Each TRE's host, by TRE name. */
  readonly tres: ReadonlyMap<string, NetworkHost>;
  /** The researcher's and the admin's machine. */
  readonly desk: NetworkHost;
  /**
   * `tremesh ARGV --profile <profile's file>` as its own process on the profile's host: the admin and researchers
   * on the desk, `reviewer-<tre>-<name>` on TRE `tre`'s host.
   */
  cli(argv: readonly string[], profile: string): Promise<CliResult>;
  /** The hub's `/leafz`, read on the hub's host (its monitoring port serves only there). */
  leafz(): Promise<Leafz>;
}

/** A `scheme://127.0.0.1:port` URL of the hub, moved to the hub host's address (and, plaintext, to `scheme`). */
function toHubHost(url: string, plaintextScheme: string | undefined): string {
  const port = /^[a-z-]+:\/\/127\.0\.0\.1:(\d+)$/.exec(url)?.[1];
  if (port === undefined) throw new Error(`not a loopback hub URL: ${url}`);
  return `${plaintextScheme ?? "tls"}://${HUB_ADDRESS}:${port}`;
}

/**
 * Replaces the federation's CA with one made for this run, whose hub certificate names the hub host's address (the
 * one every leaf and profile dials), in the files hub.yaml, leaf.yaml and the profiles already name.
 */
async function reissueHubCertificate(
  dir: string,
  hubTls: { certFile: string; keyFile: string; caFile: string },
) {
  const ca = await createFederationCa({ name: "tremesh network-hosts test CA" });
  const hub = await issueCertificate(ca, { commonName: "hub", hosts: [HUB_ADDRESS], usage: "node" });
  await writeFile(join(dir, hubTls.caFile), ca.certPem, { mode: 0o644 });
  await writeFile(join(dir, hubTls.certFile), hub.certPem, { mode: 0o644 });
  await writeFile(join(dir, hubTls.keyFile), hub.keyPem, { mode: 0o600 });
}

async function editYaml(
  file: string,
  change: (config: Record<string, unknown>) => void | Promise<void>,
): Promise<void> {
  const config = parse(await readFile(file, "utf8")) as Record<string, unknown>;
  await change(config);
  await writeFile(file, stringify(config), { mode: 0o600 });
}

/** Moves the written federation onto the hosts: the hub's listeners, the leaves' hub URLs, the hub profiles. */
async function placeOnHosts(files: FederationFiles, options: HostFederationOptions): Promise<void> {
  const edit = options.edit ?? (() => undefined);
  const plaintext = options.transport === "insecure";
  // Plaintext off loopback is refused unless each file says `insecure: true`; TLS needs the pinned CA kept.
  const dropTls = (c: Record<string, unknown>) => {
    if (!plaintext) return;
    delete c.caFile;
    c.insecure = true;
  };
  await editYaml(files.hubConfig, async (c) => {
    c.host = HUB_ADDRESS;
    if (plaintext) delete c.tls;
    else
      await reissueHubCertificate(files.dir, c.tls as { certFile: string; keyFile: string; caFile: string });
    if (plaintext) c.insecure = true;
    return edit("hub", "hub", c, files.dir);
  });
  for (const [tre, file] of Object.entries(files.leafConfigs)) {
    await editYaml(file, (c) => {
      const hub = c.hub as { urls: string[] } & Record<string, unknown>;
      hub.urls = hub.urls.map((u) => toHubHost(u, plaintext ? "nats-leaf" : undefined));
      dropTls(hub);
      return edit("leaf", tre, c, files.dir);
    });
  }
  for (const [name, file] of Object.entries(files.profiles)) {
    await editYaml(file, (c) => {
      if (typeof c.hub !== "string") return edit("profile", name, c, files.dir); // a reviewer's, on the TRE host
      c.hub = toHubHost(c.hub, plaintext ? "nats" : undefined);
      dropTls(c);
      return edit("profile", name, c, files.dir);
    });
  }
}

/** Fetches a JSON URL with the `node` on `host` (the test process is on none of the hosts). */
async function fetchJsonOn(host: NetworkHost, url: string): Promise<unknown> {
  const script = `fetch(process.argv[1],{signal:AbortSignal.timeout(5000)}).then(r=>{if(!r.ok)throw new Error("HTTP "+r.status);return r.text()}).then(t=>process.stdout.write(t))`;
  const r = await host.run([process.execPath, "-e", script, url], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new Error(`GET ${url} on ${host.name}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout);
}

/**
 * Writes the federation, makes its hosts, starts the hub and every leaf as processes on their hosts, and resolves
 * once the hub's `/leafz` shows each TRE's link coming from that TRE's host address.
 */
export async function startHostFederation(options: HostFederationOptions): Promise<HostFederation> {
  const bin = join(packageRoot(), "bin", "tremesh.mjs");
  if (!existsSync(join(packageRoot(), "dist", "cli", "main.js")))
    throw new Error(
      "the network-hosts federation runs the built CLI: run `npx tsc -p tsconfig.build.json` first",
    );
  const dir = await mkdtemp(join(tmpdir(), "tremesh-hosts-"));
  const logs = join(dir, "logs");
  await mkdir(logs);
  const net = await createHostNetwork();
  const dispose = async () => {
    await net[Symbol.asyncDispose]();
    if (process.env.TREMESH_KEEP_TMP !== "1") await rm(dir, { recursive: true, force: true });
  };
  try {
    const hub = await net.addHost("hub", HUB_ADDRESS);
    const tres = new Map<string, NetworkHost>();
    for (const [i, tre] of options.tres.entries())
      tres.set(tre, await net.addHost(`tre-${tre}`, `198.51.100.${FIRST_TRE_ADDRESS + i}`));
    const desk = await net.addHost("desk", DESK_ADDRESS);

    const files = await writeFederation(dir, options);
    await placeOnHosts(files, options);
    for (const [name, write] of Object.entries(options.data ?? {})) await write(join(dir, name));

    // A party that ends while the federation is wanted fails the wait at once, with the end of its log.
    let death: string | undefined;
    const start = async (host: NetworkHost, name: string, argv: string[]) => {
      const log = join(logs, `${name}.log`);
      const process_ = await host.start(name, [process.execPath, bin, ...argv], { cwd: dir, logFile: log });
      void process_.exited.then(async ({ code, signal }) => {
        const tail = (await logText(log)).trim().split("\n").slice(-5).join("\n");
        death ??= `${name} ended (${signal ?? `exit ${code}`}); the end of ${log}:\n${tail}`;
      });
    };
    const alive = () => {
      if (death !== undefined) throw new Error(death);
    };

    const hubConfig = parse(await readFile(files.hubConfig, "utf8")) as { ports: { monitor: number } };
    // The monitoring port listens on the hub host's loopback only (hub.yaml's default `monitorHost`).
    const monitorUrl = `http://127.0.0.1:${hubConfig.ports.monitor}`;
    const leafz = async () => (await fetchJsonOn(hub, new URL("/leafz", monitorUrl).href)) as Leafz;

    await start(hub, "hub", ["hub", "start", "--config", files.hubConfig]);
    for (const [tre, host] of tres)
      await start(host, `leaf-${tre}`, ["leaf", "start", "--config", files.leafConfigs[tre]!]);
    await waitFor(
      "every TRE's leaf link at the hub, from its own host",
      async () => {
        if (death !== undefined) return "died";
        const links = (await leafz()).leafs;
        return [...tres].every(([tre, host]) =>
          links.some((l) => l.account === files.treAccounts[tre] && l.ip === host.address),
        );
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    alive();

    const hostOf = (profile: string): NetworkHost => {
      const tre = /^reviewer-([a-z0-9-]+?)-[^-]+$/.exec(profile)?.[1];
      if (tre === undefined) return desk;
      const host = tres.get(tre);
      if (!host) throw new RangeError(`no TRE ${tre} for profile ${profile}`);
      return host;
    };
    const cli = async (argv: readonly string[], profile: string): Promise<CliResult> => {
      alive();
      const file = files.profiles[profile];
      if (!file) throw new RangeError(`no profile ${profile}`);
      const r = await hostOf(profile).run([process.execPath, bin, ...argv, "--profile", file], { cwd: dir });
      const lines = (text: string) => (text === "" ? [] : text.replace(/\n$/, "").split("\n"));
      return { code: r.code, out: lines(r.stdout), err: lines(r.stderr) };
    };

    return {
      dir,
      files,
      net,
      hub,
      tres,
      desk,
      cli,
      leafz,
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
