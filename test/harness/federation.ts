/**
 * A federation run as operators run it: files written by `writeFederation` (hub.yaml, leaf-<tre>.yaml,
 * profiles, 0600 secrets), then the real `startHubNode` / `startLeafNode` from those files, and the CLI
 * driven in-process with `run(argv)`. Everything is stopped and removed on disposal, even on failure.
 *
 * @example
 * await using fed = await startFederation({ tres: ["a", "b"] });
 * const r = await fed.cli(["status", taskId], "alice");
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { type FederationPlan, writeFederation } from "../../admin/federation-files.js";
import { buildOperatorFederation, type FederationFiles } from "../../admin/index.js";
import { fetchReleases } from "../../aggregator/index.js";
import { run } from "../../cli/main.js";
import { connectProfile, loadProfile, type Profile } from "../../cli/profile.js";
import { fetchLeafz, WaitTimeoutError, waitFor } from "../../common/index.js";
import { type HubNode, type HubNodeEvent, loadHubConfig, startHubNode } from "../../hub/index.js";
import { type LeafNode, type LeafNodeEvent, loadLeafConfig, startLeafNode } from "../../leaf/index.js";
import { openEnvelope, type Release, type TaskView, TrustStore } from "../../protocol/index.js";

export interface CliResult {
  code: number;
  out: string[];
  err: string[];
}

export interface Federation extends AsyncDisposable {
  readonly files: FederationFiles;
  /** The hub (the first node of a clustered hub). */
  readonly hub: HubNode;
  /** Every hub node: one, or `hubNodes` of a cluster. */
  readonly hubs: readonly HubNode[];
  readonly leaves: Map<string, LeafNode>;
  /** Runs `tremesh <argv>` in-process with the named profile (`admin` or a researcher). */
  cli(argv: string[], profile?: string): Promise<CliResult>;
  profile(name: string): Promise<Profile>;
  /** A hub connection with the named profile, closed on disposal. */
  connect(profile: string): Promise<NatsConnection>;
  startLeaf(tre: string): Promise<LeafNode>;
  stopLeaf(tre: string): Promise<void>;
  /**
   * Stops hub node `node` (default 0, the single hub) and starts it again from the same hub.yaml and data dir
   * (same ports), as an operator's restart does; with `kill`, its nats-server is first killed with SIGKILL, as a
   * crash of the hub machine would. Resolves once the link of every leaf started here is back; `hub` and `hubs`
   * hold the new node afterwards.
   */
  restartHub(options?: { kill?: boolean; node?: number }): Promise<HubNode>;
  /** Waits until `tre`'s leaf link is up on the hub. */
  waitForLink(tre: string): Promise<void>;
}

export interface FederationOptions extends FederationPlan {
  /** TREs whose leaf is started at once. Default: all. */
  startLeaves?: readonly string[];
  /** Run each leaf's agent. Default true; mesh-level tests turn it off and play the TRE's part themselves. */
  agent?: boolean;
  /**
   * How the federation is set up: "operator" (JWT accounts, built with the `tremesh admin` functions, as the demo
   * does) or "config" (users and passwords in hub.yaml). Default: TREMESH_TEST_MODE, else "operator".
   */
  mode?: "operator" | "config";
  /** Sees every event of the hub process (its services' refusals and errors). */
  onHubEvent?: (e: HubNodeEvent) => void;
  /** Sees every event of each leaf process (its agent's refusals and errors). */
  onLeafEvent?: (tre: string, e: LeafNodeEvent) => void;
  /**
   * How often the hub and each leaf look for stale sources, ms. Default 1 000: tests see a source restarted within a
   * second. The benchmarks run the product's default (`SOURCE_CHECK_INTERVAL_MS`), as a deployed federation does.
   */
  sourceCheckIntervalMs?: number;
}

/** The hub a callback started (TypeScript cannot see assignments made inside closures). */
function started(hub: HubNode | undefined): HubNode {
  if (!hub) throw new Error("the hub did not start");
  return hub;
}

export async function startFederation(options: FederationOptions): Promise<Federation> {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-fed-"));
  const leaves = new Map<string, LeafNode>();
  const connections: NatsConnection[] = [];
  const hubs: HubNode[] = [];
  const dispose = async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await Promise.allSettled([...leaves.values()].map((l) => l.stop()));
    await Promise.allSettled(hubs.map((h) => h.stop()));
    if (process.env.TREMESH_KEEP_TMP !== "1") await rm(dir, { recursive: true, force: true });
  };
  try {
    const mode = options.mode ?? (process.env.TREMESH_TEST_MODE === "config" ? "config" : "operator");
    const sourceCheckIntervalMs = options.sourceCheckIntervalMs ?? 1_000;
    const hubOptions = {
      sourceCheckIntervalMs,
      clusterWaitMs: 45_000,
      ...(options.onHubEvent ? { onEvent: options.onHubEvent } : {}),
    };
    // A cluster's nodes start together: each waits for the others before its JetStream can place streams. When
    // one fails, the others are still waited for (a node without its peers gives up after `clusterWaitMs`), so
    // that every node that did start is stopped with the federation; then the first failure in time is thrown,
    // which names the cause (a node that could not start) rather than its peers' wait for it.
    //
    // A cluster whose JetStream meta group never formed, with every node up, is started again, as a service
    // manager restarts a failed unit: nats-server 2.10 now and then fails to bootstrap three fresh nodes started at
    // the same instant (2 of about 8 runs after the whole suite on 2026-12-05, not traced further upstream). The
    // nodes keep the group they did form in their JetStream stores (two nodes counting 2), and started on those they
    // form it again: on 2026-12-08 the second start failed the same way. So each node's store goes first: the group
    // never formed, so it holds nothing but that (the accounts of operator mode are in the resolver's folder).
    const startHubsTrying = async (hubConfigs: readonly string[], tries: number): Promise<void> => {
      const failures: unknown[] = [];
      await Promise.all(
        hubConfigs.map(async (c, i) => {
          try {
            hubs[i] = await startHubNode(await loadHubConfig(c), hubOptions);
          } catch (error) {
            failures.push(error);
          }
        }),
      );
      if (failures.length === 0) return;
      const noMetaGroup =
        failures.length === hubConfigs.length && failures.every((e) => e instanceof WaitTimeoutError);
      if (!noMetaGroup || tries <= 1) throw failures[0];
      console.warn(
        `[federation] the hub cluster's meta group did not form; starting its nodes again, stores emptied`,
      );
      for (const c of hubConfigs)
        await rm(join((await loadHubConfig(c)).dataDir, "jetstream"), { recursive: true, force: true });
      await startHubsTrying(hubConfigs, tries - 1);
    };
    const startHubs = (hubConfigs: readonly string[]) => startHubsTrying(hubConfigs, 3);
    const files =
      mode === "operator"
        ? await buildOperatorFederation(dir, options, startHubs)
        : await writeFederation(dir, options);
    if (mode === "config") await startHubs(files.hubConfigs);
    started(hubs[0]);
    const waitForLink = async (tre: string) => {
      await waitFor(
        `TRE ${tre}'s leaf link`,
        async () => {
          for (const h of hubs.filter((n) => n.server.running)) {
            const leafz = await fetchLeafz(h.server.monitorUrl!);
            if (leafz.leafs.some((l) => l.account === files.treAccounts[tre])) return true;
          }
          return false;
        },
        { timeoutMs: 20_000 },
      );
    };
    const startLeaf = async (tre: string) => {
      const path = files.leafConfigs[tre];
      if (!path) throw new RangeError(`no TRE ${tre}`);
      const node = await startLeafNode(await loadLeafConfig(path), {
        sourceCheckIntervalMs,
        agent: options.agent ?? true,
        ...(options.onLeafEvent ? { onEvent: (e: LeafNodeEvent) => options.onLeafEvent?.(tre, e) } : {}),
      });
      leaves.set(tre, node);
      await waitForLink(tre);
      return node;
    };
    for (const tre of options.startLeaves ?? options.tres) await startLeaf(tre);

    const restartHub = async ({ kill = false, node = 0 }: { kill?: boolean; node?: number } = {}) => {
      const old = hubs[node];
      const config = files.hubConfigs[node];
      if (!old || !config) throw new RangeError(`no hub node ${node}`);
      if (kill) {
        process.kill(old.server.pid, "SIGKILL");
        await waitFor("the hub's nats-server to exit", () => !old.server.running);
      }
      await old.stop();
      hubs[node] = await startHubNode(await loadHubConfig(config), hubOptions);
      for (const tre of leaves.keys()) await waitForLink(tre);
      return hubs[node];
    };

    const fed: Federation = {
      files,
      get hub() {
        return started(hubs[0]);
      },
      hubs,
      leaves,
      cli: async (argv, profile = "admin") => {
        const out: string[] = [];
        const err: string[] = [];
        const path = files.profiles[profile];
        if (!path) throw new RangeError(`no profile ${profile}`);
        const code = await run([...argv, "--profile", path], {
          out: (l) => out.push(l),
          err: (l) => err.push(l),
        });
        return { code, out, err };
      },
      profile: (name) => loadProfile(files.profiles[name]),
      connect: async (name) => {
        const nc = await connectProfile(await loadProfile(files.profiles[name]));
        connections.push(nc);
        return nc;
      },
      startLeaf,
      stopLeaf: async (tre) => {
        await leaves.get(tre)?.stop();
        leaves.delete(tre);
      },
      waitForLink,
      restartHub,
      [Symbol.asyncDispose]: dispose,
    };
    return fed;
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** The federation admin registers each researcher's signing key at the hub. Fails on any refusal. */
export async function registerResearchers(fed: Federation, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const key = fed.files.researcherKeys[name];
    if (!key) throw new RangeError(`no researcher ${name}`);
    const added = await fed.cli(["admin", "add-researcher", name, "--signing-key", key]);
    if (added.code !== 0) throw new Error(`admin add-researcher ${name}: ${added.err.join(" ")}`);
  }
}

/** The federation admin adds a project over `tres` with `members`, valid for `days`. Fails on any refusal. */
export async function addProject(
  fed: Federation,
  {
    project,
    tres,
    members,
    days = 30,
  }: { project: string; tres: readonly string[]; members: readonly string[]; days?: number },
): Promise<void> {
  const until = new Date(Date.now() + days * 86_400_000).toISOString();
  const r = await fed.cli([
    "admin",
    "project",
    "create",
    project,
    "--tres",
    tres.join(","),
    "--members",
    members.join(","),
    "--until",
    until,
  ]);
  if (r.code !== 0 || r.err.length > 0)
    throw new Error(`admin project create ${project}: ${r.err.join(" ")}`);
}

/** Both: what the admin does before a researcher can submit to a new project. */
export async function approveProject(
  fed: Federation,
  plan: { project: string; tres: readonly string[]; members: readonly string[]; days?: number },
): Promise<void> {
  await registerResearchers(fed, plan.members);
  await addProject(fed, plan);
}

/** The hub's view of a task, as `tremesh status TASK --json` prints it for `profile`. */
export async function taskView(fed: Federation, taskId: string, profile = "alice"): Promise<TaskView> {
  const r = await fed.cli(["status", taskId, "--json"], profile);
  return JSON.parse(r.out.join("\n")) as TaskView;
}

/** Waits until `tre`'s part of the task is in `state`; resolves with that child's view. */
export async function childReaches(
  fed: Federation,
  taskId: string,
  tre: string,
  state: string,
  { profile = "alice", timeoutMs = 30_000 }: { profile?: string; timeoutMs?: number } = {},
): Promise<TaskView["children"][number]> {
  return waitFor(
    `${tre} to reach ${state}`,
    async () =>
      (await taskView(fed, taskId, profile)).children.find((c) => c.tre === tre && c.state === state),
    { timeoutMs },
  );
}

/** Opens a Release signed by TRE `tre` with `publicKey`; throws when it does not verify. */
export function openTreRelease(envelope: Uint8Array, tre: string, publicKey: string): Release {
  const trust = new TrustStore().add({ publicKey, role: "tre", name: `tre:${tre}`, tre });
  const opened = openEnvelope(envelope, { trust, expect: "release" });
  if (!opened.ok || opened.value.type !== "release")
    throw new Error(
      `the Release of TRE ${tre} does not verify: ${opened.ok ? opened.value.type : opened.error.message}`,
    );
  return opened.value.body;
}

/** The Release TRE `tre` sent for `taskId`, fetched as `researcher` and verified with the TRE's key. */
export async function releaseOf(
  fed: Federation,
  taskId: string,
  tre: string,
  researcher = "alice",
): Promise<Release> {
  const nc = await fed.connect(researcher);
  const items = await fetchReleases(nc, (await fed.profile(researcher)).key!, taskId);
  const item = items.find((i) => i.tre === tre);
  if (!item) throw new Error(`no Release from TRE ${tre} for task ${taskId}`);
  return openTreRelease(item.envelope, tre, fed.files.trePublicKeys[tre]!);
}
