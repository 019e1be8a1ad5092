/**
 * The audit chain on real nats-servers: concurrent writers on separate connections, forged and garbage
 * records, the server refusing deletes and purges, an anchor catching a rebuilt stream, and the same
 * log in a leaf's CTRL account.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  jetstream,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { auditHash, decodeAuditRecord } from "../audit/audit-record.js";
import {
  type AuditAppended,
  AuditBreak,
  AuditContentionError,
  type AuditEntry,
  AuditLog,
  AuditStreamError,
  ensureAuditStream,
  verifyAuditLog,
} from "../audit/index.js";
import {
  fetchMetaCluster,
  type NatsServerHandle,
  startNatsServer,
  toNatsConf,
  WaitTimeoutError,
  waitFor,
  whilePlacing,
} from "../common/index.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { HUB_DEFAULTS } from "../hub/hub-defaults.js";
import { CTRL_ACCOUNT, DMZ_ACCOUNT } from "../leaf/account-names.js";
import { newId, pack, subjects } from "../protocol/index.js";
import { startMesh } from "./harness/mesh.js";
import { uniqueToken } from "./harness/unique.js";

/** Ports the operating system has free now, for the cluster's routes (each node names them all). */
async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  const ports = await Promise.all(
    servers.map(
      (server) =>
        new Promise<number>((resolve) =>
          server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)),
        ),
    ),
  );
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/**
 * `size` nats-servers routed into one JetStream cluster on loopback, stopped and removed on disposal. The first
 * `running` start now; `startNode` starts another later (a node that joins late).
 */
async function startCluster(size: number, { running = size }: { running?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-audit-cluster-"));
  const token = uniqueToken();
  const routes = await freePorts(size);
  const nodes: NatsServerHandle[] = [];
  const serverName = (i: number) => `audit-${token}-${i}`;
  const startNode = async (i: number) => {
    const port = routes[i]!;
    nodes[i] = await startNatsServer({
      name: `node-${i}`,
      dir: join(dir, `node-${i}`),
      configText: toNatsConf({
        server_name: serverName(i),
        host: "127.0.0.1",
        port: -1,
        http: "127.0.0.1:-1",
        jetstream: { store_dir: join(dir, `node-${i}`, "js") },
        cluster: {
          name: `audit-${token}`,
          host: "127.0.0.1",
          port,
          // Every node's route, its own too, as a hub node's config lists them (nats-server sizes a fresh cluster's
          // meta group by their number).
          routes: routes.map((p) => `nats-route://127.0.0.1:${p}`),
        },
      }),
    });
  };
  await Promise.all(Array.from({ length: running }, (_, i) => startNode(i)));
  const connections: NatsConnection[] = [];
  return {
    startNode,
    /**
     * Every running node sees the meta leader, and the leader hears from `known` - 1 others. nats-server 2.10 now
     * and then, on a busy machine, forms a fresh cluster's meta group of the two nodes that met first and never
     * adds the third (the group's size drops to 2 for good, and three copies are refused). A hub node left out so
     * fails its wait for the group and is restarted by its supervisor; restarted, it joins. This does the same,
     * sooner: a running node the leader has not heard from after `joinWaitMs` is restarted, once.
     */
    formed: async (known = size, joinWaitMs = 15_000) => {
      const leaderHears = async () => {
        const metas = await Promise.all(nodes.map((node) => fetchMetaCluster(node.monitorUrl!)));
        const leader = metas.find((meta) => meta?.replicas !== undefined);
        const heard = new Set((leader?.replicas ?? []).filter((p) => p.current).map((p) => p.name));
        const ready = metas.every((meta) => meta?.leader !== undefined) && heard.size >= known - 1;
        const unheard = nodes.flatMap((node, i) =>
          node !== undefined && leader?.leader !== serverName(i) && !heard.has(serverName(i)) ? [i] : [],
        );
        return { ready, unheard };
      };
      const what = `the cluster's JetStream meta group: a leader on every node, hearing from ${known - 1} others`;
      const options = { intervalMs: 250 };
      try {
        await waitFor(what, async () => (await leaderHears()).ready, { ...options, timeoutMs: joinWaitMs });
        return;
      } catch (error) {
        if (!(error instanceof WaitTimeoutError)) throw error;
      }
      for (const i of (await leaderHears()).unheard) {
        await nodes[i]!.stop();
        await startNode(i);
      }
      await waitFor(what, async () => (await leaderHears()).ready, {
        ...options,
        timeoutMs: HUB_DEFAULTS.clusterWaitMs,
      });
    },
    connect: async (i: number) => {
      const nc = await connect({ servers: nodes[i]!.clientUrl });
      connections.push(nc);
      return nc;
    },
    [Symbol.asyncDispose]: async () => {
      await Promise.allSettled(connections.map((nc) => nc.close()));
      await Promise.allSettled(nodes.map((node) => node.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A cluster test's own limit: on a busy machine forming the meta group may take `formed`'s join wait, a restart and
 * `HUB_DEFAULTS.clusterWaitMs`, and placing a stream `whilePlacing`'s patience, each longer than vitest's 60 s.
 */
const CLUSTER_TEST_MS = 300_000;

/** A unique stream per test, so a failure in one never leaks records into another. */
function streamName(token: string): string {
  return `AUDIT_${token.toUpperCase()}`;
}

/**
 * A formed three-node cluster's chain on a stream of its own, three copies, as a hub node creates it (a leader that
 * hears from every node may not yet count them all for placement); with a connection to each node.
 */
async function replicatedChain(cluster: Awaited<ReturnType<typeof startCluster>>) {
  const stream = streamName(uniqueToken());
  await cluster.formed();
  const connections = await Promise.all([0, 1, 2].map((i) => cluster.connect(i)));
  const jsm = await jetstreamManager(connections[0]!);
  await whilePlacing(() => ensureAuditStream(jsm, { scope: "hub", stream, replicas: 3 }));
  return { stream, jsm, connections };
}

function entry(actor: string, i: number): AuditEntry {
  return { actor, action: "task.submitted", taskId: newId(), details: { i } };
}

/** One writer's sequential appends. */
async function appendMany(log: AuditLog, actor: string, count: number): Promise<AuditAppended[]> {
  const appended: AuditAppended[] = [];
  for (let i = 0; i < count; i++) appended.push(await log.append(entry(actor, i)));
  return appended;
}

/** Sets up one chain on `nc` and returns its writer and names. */
/** How a verifier reads the chain: through a consumer (the hub's log), or by sequence (a TRE's, `directReads`). */
const READS = [
  ["through a consumer", false],
  ["by sequence (direct gets)", true],
] as const;

async function chainOn(nc: NatsConnection, scope: string, stream: string, directReads = false) {
  await ensureAuditStream(await jetstreamManager(nc), { scope, stream, directReads });
  const js = jetstream(nc);
  return { js, log: new AuditLog(js, { scope, stream }), subject: subjects.audit(scope) };
}

function rate(count: number, startedMs: number): string {
  const seconds = (performance.now() - startedMs) / 1000;
  return `${count} in ${(seconds * 1000).toFixed(0)} ms = ${Math.round(count / seconds)}/s`;
}

describe("audit log", () => {
  it("keeps one gap-free chain 1..200 under 4 concurrent writers on 4 connections", async ({ annotate }) => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const connections = await Promise.all([1, 2, 3, 4].map(() => mesh.connectHub(FED_ACCOUNT)));
    await ensureAuditStream(await jetstreamManager(connections[0]!), { scope: "hub", stream });
    const writers = connections.map((nc) => new AuditLog(jetstream(nc), { scope: "hub", stream }));

    const started = performance.now();
    const results = await Promise.all(writers.map((log, w) => appendMany(log, `hub-svc-${w}`, 50)));
    const attempts = results.flat().map((r) => r.attempts);
    await annotate(
      `4 writers: ${rate(200, started)}; publishes per append: max ${Math.max(...attempts)}, ` +
        `mean ${(attempts.reduce((x, y) => x + y, 0) / attempts.length).toFixed(2)}`,
    );

    const all = results.flat().sort((x, y) => x.seq - y.seq);
    expect(all.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    for (const own of results)
      expect(own.map((r) => r.seq)).toEqual([...own.map((r) => r.seq)].sort((x, y) => x - y));

    const verifyStarted = performance.now();
    const verified = await verifyAuditLog(jetstream(connections[0]!), { stream });
    await annotate(`verify: ${rate(200, verifyStarted)}`);
    expect(verified).toEqual({ ok: true, count: 200, firstSeq: 1, head: { seq: 200, hash: all[199]!.hash } });
  });

  it("serialises concurrent appends on one instance, and measures a lone writer", async ({ annotate }) => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js, log } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);

    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => log.append(entry("hub-svc", i))));
    expect(burst.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

    const started = performance.now();
    await appendMany(log, "hub-svc", 200);
    await annotate(`1 writer: ${rate(200, started)}`);
    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 220 });
  });

  it("records a step appended again under its `once` key a single time, from another writer too, the chain whole", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js, log } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);
    const first = await log.append(entry("hub-svc", 1), { once: "release.received.t1.a" });
    await log.append(entry("hub-svc", 2));
    // A writer started after a crash (no tail of its own) redoes the step: the first record stands.
    const restarted = new AuditLog(js, { scope: "hub", stream });
    const again = await restarted.append(entry("hub-svc", 1), { once: "release.received.t1.a" });
    expect(again).toMatchObject({ seq: first.seq, hash: first.hash, duplicate: true });
    const next = await restarted.append(entry("hub-svc", 3));
    expect(next.seq).toBe(3);
    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 3 });
  });

  it(
    "finds a `once` record stored under a later id of its key after the stream's leader changed",
    async () => {
      // Found by the hub cluster test under load: a hub node stopped after recording a Release, and the node that
      // took the Release over recorded it again. The first node's try under the key's first id had been refused (the
      // chain had moved on), so its record went under the next id; the stream's new leader did not hold the refused
      // id, and stored the second node's record under it anew.
      await using cluster = await startCluster(3);
      const { stream, jsm, connections } = await replicatedChain(cluster);
      const [first, second, third] = connections;
      const stopped = new AuditLog(jetstream(first!), { scope: "hub", stream });
      const other = new AuditLog(jetstream(second!), { scope: "hub", stream });
      await stopped.append(entry("hub-node-0", 0));
      await other.append(entry("hub-node-1", 0)); // the first node's tail is stale now
      const since = Date.now();
      const recorded = await stopped.append(entry("hub-node-0", 1), { once: "release.received.t1.a" });
      const stored = await jsm.streams.getMessage(stream, { seq: recorded.seq });
      expect(stored?.header.get("Nats-Msg-Id")).toBe("once.release.received.t1.a.1");

      const leader = (await jsm.streams.info(stream)).cluster?.leader;
      await first!.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, { timeout: 10_000 });
      await waitFor("another leader of the stream", async () => {
        const now = (await jsm.streams.info(stream)).cluster?.leader;
        return now !== undefined && now !== leader;
      });
      const takingOver = new AuditLog(jetstream(third!), { scope: "hub", stream });
      const again = await takingOver.append(entry("hub-node-0", 1), { once: "release.received.t1.a", since });
      expect(again).toMatchObject({ seq: recorded.seq, hash: recorded.hash, duplicate: true });
      expect(await verifyAuditLog(jetstream(third!), { stream })).toMatchObject({ ok: true, count: 3 });
    },
    CLUSTER_TEST_MS,
  );

  it(
    "keeps every `once` record on a three-node cluster, where a refused try leaves its id held",
    async () => {
      // Found by the hub cluster test: two hub nodes racing on the chain lost Release records. A clustered stream's
      // leader holds a message id before it checks the chain's last sequence; the retry under the same id was told
      // "duplicate" at sequence 0 and believed it, with nothing stored.
      await using cluster = await startCluster(3);
      const { stream, jsm, connections } = await replicatedChain(cluster);
      const [first, second] = connections;
      const writers = [first!, second!].map((nc) => new AuditLog(jetstream(nc), { scope: "hub", stream }));
      const keyed = (w: number, i: number) => ({
        ...entry(`hub-node-${w}`, i),
        details: { key: `k.${w}.${i}` },
      });
      await Promise.all(
        writers.map(async (log, w) => {
          for (let i = 0; i < 40; i++) await log.append(keyed(w, i), { once: `k.${w}.${i}` });
        }),
      );
      // Every key once: the records themselves, read one by one.
      const keys: string[] = [];
      const { state } = await jsm.streams.info(stream);
      for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
        const decoded = decodeAuditRecord((await jsm.streams.getMessage(stream, { seq }))!.data);
        if (decoded.ok) keys.push(String(decoded.record.details?.key));
      }
      expect(keys.sort()).toEqual(
        [0, 1].flatMap((w) => Array.from({ length: 40 }, (_, i) => `k.${w}.${i}`)).sort(),
      );
      // A writer restarted within the duplicate window redoes every step: nothing is recorded twice.
      const restarted = new AuditLog(jetstream(second!), { scope: "hub", stream });
      for (let i = 0; i < 40; i++)
        expect(await restarted.append(keyed(0, i), { once: `k.0.${i}` })).toMatchObject({ duplicate: true });
      expect(await verifyAuditLog(jetstream(first!), { stream })).toMatchObject({ ok: true, count: 80 });
    },
    CLUSTER_TEST_MS,
  );

  it(
    "creates a three-copy chain on a cluster whose third node joins while the create waits",
    async () => {
      // The hub's nodes start together: one that has joined before the others cannot place three copies yet.
      await using cluster = await startCluster(3, { running: 2 });
      await cluster.formed(2);
      const jsm = await jetstreamManager(await cluster.connect(0));
      const stream = streamName(uniqueToken());
      const refusals: unknown[] = [];
      // The third node starts at the first refusal, and is restarted if the meta group leaves it out (`formed`).
      let joined: Promise<void> | undefined;
      const created = await whilePlacing(async () => {
        try {
          return await ensureAuditStream(jsm, { scope: "hub", stream, replicas: 3 });
        } catch (error) {
          if (refusals.push(error) === 1) {
            joined = cluster.startNode(2).then(() => cluster.formed(3));
            joined.catch(() => {}); // awaited below, once the create is through
          }
          throw error;
        }
      });
      await joined;
      expect((refusals[0] as Error).cause).toMatchObject({ code: 10005 }); // no suitable peers, while two
      expect(created.config.num_replicas).toBe(3);
      expect(created.cluster?.replicas?.length).toBe(2);
    },
    CLUSTER_TEST_MS,
  );

  it("verifies an empty log as an empty chain", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);
    expect(await verifyAuditLog(js, { stream })).toEqual({
      ok: true,
      count: 0,
      firstSeq: 1,
      head: { seq: 0, hash: "0".repeat(64) },
    });
  });

  const forgeries: [string, (prevHash: string) => Uint8Array, AuditBreak][] = [
    [
      "a record with a wrong prev",
      () =>
        pack({ seq: 11, prev: "f".repeat(64), at: Date.now(), actor: "hub-svc", action: "task.cancelled" }),
      AuditBreak.prevMismatch,
    ],
    ["garbage bytes", () => Uint8Array.of(0xc1, 0xff, 0x00, 0x13), AuditBreak.badEncoding],
    [
      "a record claiming another position",
      (prev) => pack({ seq: 12, prev, at: Date.now(), actor: "hub-svc", action: "task.cancelled" }),
      AuditBreak.seqMismatch,
    ],
    [
      "a record smuggling an extra field",
      (prev) => pack({ seq: 11, prev, at: Date.now(), actor: "hub-svc", action: "task.x", rows: [[1, 2]] }),
      AuditBreak.extraField,
    ],
  ];

  it.each(
    forgeries.flatMap(([what, forge, reason]) =>
      READS.map(([read, direct]) => [what, read, forge, reason, direct] as const),
    ),
  )(
    "reports %s, published raw, as the first broken link, read %s",
    async (_what, _read, forge, reason, direct) => {
      await using mesh = await startMesh({ tres: ["a"] });
      const stream = streamName(mesh.token);
      const { log, subject } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream, direct);
      const honest = await appendMany(log, "hub-svc", 10);

      // Someone else with publish rights on the subject, without the chain's expectations.
      const rogue = jetstream(await mesh.connectHub(FED_ACCOUNT));
      expect((await rogue.publish(subject, forge(honest[9]!.hash))).seq).toBe(11);
      // Honest writers carry on past it: the chain links to the forged bytes, so only record 11 is broken.
      const after = await appendMany(log, "hub-svc", 5);
      expect(after.map((r) => r.seq)).toEqual([12, 13, 14, 15, 16]);

      const verified = await verifyAuditLog(jetstream(await mesh.connectHub(FED_ACCOUNT)), { stream });
      expect(verified).toMatchObject({ ok: false, firstBrokenSeq: 11, reason, count: 10 });
    },
  );

  it("has the server refuse message deletes, purges and lifting either ban", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const nc = await mesh.connectHub(FED_ACCOUNT);
    const jsm = await jetstreamManager(nc);
    const { js, log } = await chainOn(nc, "hub", stream);
    await appendMany(log, "hub-svc", 3);

    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (e: unknown) => e,
      );
    const codeOf = (e: unknown) => (e instanceof JetStreamApiError ? e.code : e);
    expect(codeOf(await refusal(jsm.streams.deleteMessage(stream, 2)))).toBe(10057);
    expect(codeOf(await refusal(jsm.streams.deleteMessage(stream, 2, false)))).toBe(10057);
    expect(codeOf(await refusal(jsm.streams.purge(stream)))).toBe(10110);
    expect(codeOf(await refusal(jsm.streams.purge(stream, { keep: 1 })))).toBe(10110);
    const info = await jsm.streams.info(stream);
    expect(codeOf(await refusal(jsm.streams.update(stream, { ...info.config, deny_delete: false })))).toBe(
      10052,
    );
    expect(codeOf(await refusal(jsm.streams.update(stream, { ...info.config, deny_purge: false })))).toBe(
      10052,
    );
    expect(
      codeOf(await refusal(jsm.streams.update(stream, { ...info.config, allow_rollup_hdrs: true }))),
    ).toBe(10052);

    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 3 });
  });

  it("ensures the stream idempotently, and refuses a same-named stream of another chain", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const jsm = await jetstreamManager(await mesh.connectHub(FED_ACCOUNT));

    const created = await ensureAuditStream(jsm, { scope: "hub", stream });
    expect(created.config).toMatchObject({
      subjects: [subjects.audit("hub")],
      storage: "file",
      retention: "limits",
      max_age: 0,
      deny_delete: true,
      deny_purge: true,
      allow_rollup_hdrs: false,
    });
    await Promise.all([1, 2, 3].map(() => ensureAuditStream(jsm, { scope: "hub", stream })));
    const aged = await ensureAuditStream(jsm, { scope: "hub", stream, maxAgeMs: 3_600_000 });
    expect(aged.config.max_age).toBe(3_600_000 * 1_000_000);

    await expect(ensureAuditStream(jsm, { scope: "other", stream })).rejects.toBeInstanceOf(AuditStreamError);
  });

  it("gives up with AuditContentionError after maxAttempts lost races", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js, log: other } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);
    const impatient = new AuditLog(js, { scope: "hub", stream, maxAttempts: 1 });
    await impatient.append(entry("impatient", 0)); // now it holds tail 1
    await other.append(entry("other", 0)); // and that tail is stale

    const error = await impatient.append(entry("impatient", 1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuditContentionError);
    expect(error).toMatchObject({ attempts: 1, stream });
    expect(await impatient.append(entry("impatient", 2))).toMatchObject({ seq: 3 }); // re-read the tail
    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 3 });
  });

  it("sends appends made at once together, and never links one to a predecessor the server refused", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js, log } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);
    const other = new AuditLog(js, { scope: "hub", stream });
    await log.append(entry("batcher", 0)); // its tail: 1
    await other.append(entry("other", 0)); // now that tail is stale, and record 2 is other's

    // Both go out at once on tail 1: the first is refused (the last sequence is 2), and the second, built on the
    // first, would find the sequence it expects (2) but not its predecessor's id, so it is refused as well.
    const [first, second] = await Promise.all([
      log.append(entry("batcher", 1)),
      log.append(entry("batcher", 2)),
    ]);
    expect([first, second]).toMatchObject([
      { seq: 3, attempts: 2 },
      { seq: 4, attempts: 2 },
    ]);
    expect(await verifyAuditLog(js, { stream })).toMatchObject({
      ok: true,
      count: 4,
      head: { seq: 4, hash: second.hash },
    });

    // A burst on a fresh tail is one round: every record of it stored on the first try.
    const burst = await Promise.all(
      Array.from({ length: 10 }, (_, i) => log.append(entry("batcher", 10 + i))),
    );
    expect(burst.map((r) => [r.seq, r.attempts])).toEqual(Array.from({ length: 10 }, (_, i) => [5 + i, 1]));
  });

  it("keeps one gap-free chain when several writers send bursts at once", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const connections = await Promise.all([1, 2, 3].map(() => mesh.connectHub(FED_ACCOUNT)));
    await ensureAuditStream(await jetstreamManager(connections[0]!), { scope: "hub", stream });
    const writers = connections.map((nc) => new AuditLog(jetstream(nc), { scope: "hub", stream }));
    const bursts = async (log: AuditLog, w: number) => {
      const out: AuditAppended[] = [];
      for (let b = 0; b < 5; b++)
        out.push(
          ...(await Promise.all(Array.from({ length: 8 }, (_, i) => log.append(entry(`w${w}`, b * 8 + i))))),
        );
      return out;
    };
    const results = (await Promise.all(writers.map(bursts))).flat().sort((x, y) => x.seq - y.seq);
    expect(results.map((r) => r.seq)).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
    expect(await verifyAuditLog(jetstream(connections[0]!), { stream })).toMatchObject({
      ok: true,
      count: 120,
      head: { seq: 120, hash: results[119]!.hash },
    });
  });

  it("links to a record another writer appended between its two reads of an empty log's tail", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream);
    const other = new AuditLog(jetstream(await mesh.connectHub(FED_ACCOUNT)), { scope: "hub", stream });
    // The writer sees "no record yet", then the other writer's record 1 lands before it reads the stream state.
    let raced = false;
    const racing = new Proxy(js, {
      get(target, property) {
        if (property !== "jetstreamManager") return Reflect.get(target, property, target);
        return async () => {
          const jsm = await target.jetstreamManager(false);
          const getMessage = jsm.streams.getMessage.bind(jsm.streams);
          jsm.streams.getMessage = async (name, query) => {
            const found = await getMessage(name, query);
            if (found === null && !raced) {
              raced = true;
              await other.append(entry("other", 0));
            }
            return found;
          };
          return jsm;
        };
      },
    });

    expect(await new AuditLog(racing, { scope: "hub", stream }).append(entry("racer", 0))).toMatchObject({
      seq: 2,
    });
    expect(raced).toBe(true);
    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 2 });
  });

  it.each(READS)(
    "reports a deleted record as a gap, on a stream made without the bans, read %s",
    async (_read, direct) => {
      await using mesh = await startMesh({ tres: ["a"] });
      const stream = streamName(mesh.token);
      const nc = await mesh.connectHub(FED_ACCOUNT);
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: stream, subjects: [subjects.audit("hub")], allow_direct: direct });
      const js = jetstream(nc);
      await appendMany(new AuditLog(js, { scope: "hub", stream }), "hub-svc", 6);

      await jsm.streams.deleteMessage(stream, 4);
      expect(await verifyAuditLog(js, { stream })).toMatchObject({
        ok: false,
        firstBrokenSeq: 4,
        reason: AuditBreak.gap,
      });
      await jsm.streams.purge(stream, { seq: 3 }); // drops 1 and 2 as well
      expect(await verifyAuditLog(js, { stream })).toMatchObject({
        ok: false,
        firstBrokenSeq: 1,
        reason: AuditBreak.gap,
      });

      // ensureAuditStream puts the bans on such a stream, and from then on they hold.
      const upgraded = await ensureAuditStream(jsm, { scope: "hub", stream, directReads: direct });
      expect(upgraded.config).toMatchObject({ deny_delete: true, deny_purge: true, storage: "file" });
      await expect(jsm.streams.deleteMessage(stream, 5)).rejects.toBeInstanceOf(JetStreamApiError);
    },
  );

  it.each(READS)(
    "verifies an age-limited chain from its oldest kept record, and extends it after everything aged out, read %s",
    async (_read, directReads) => {
      await using mesh = await startMesh({ tres: ["a"] });
      const stream = streamName(mesh.token);
      const nc = await mesh.connectHub(FED_ACCOUNT);
      const jsm = await jetstreamManager(nc);
      await ensureAuditStream(jsm, { scope: "hub", stream, maxAgeMs: 1_000, directReads });
      const js = jetstream(nc);
      const log = new AuditLog(js, { scope: "hub", stream });
      await appendMany(log, "hub-svc", 3);
      await waitFor(
        "the records to age out",
        async () => (await jsm.streams.info(stream)).state.messages === 0,
        {
          timeoutMs: 10_000,
        },
      );

      const fresh = new AuditLog(js, { scope: "hub", stream }); // no cached tail: reads an empty stream at seq 3
      const after = await appendMany(fresh, "hub-svc", 2);
      expect(after.map((r) => r.seq)).toEqual([4, 5]);
      // Only a caller that configured the age limit accepts the missing start; anyone else sees a gap.
      expect(await verifyAuditLog(js, { stream })).toMatchObject({
        ok: false,
        firstBrokenSeq: 1,
        reason: AuditBreak.gap,
      });
      expect(await verifyAuditLog(js, { stream, allowAgedStart: true })).toEqual({
        ok: true,
        count: 2,
        firstSeq: 4,
        head: { seq: 5, hash: after[1]!.hash },
      });
    },
  );

  it.each(READS)(
    "catches a deleted and rebuilt stream with an anchor kept outside it, read %s",
    async (_read, direct) => {
      await using mesh = await startMesh({ tres: ["a"] });
      const stream = streamName(mesh.token);
      const nc = await mesh.connectHub(FED_ACCOUNT);
      const { js, log } = await chainOn(nc, "hub", stream, direct);
      await appendMany(log, "hub-svc", 5);
      const anchor = await log.readHead();
      expect(await verifyAuditLog(js, { stream, anchor })).toMatchObject({ ok: true, head: anchor });

      // Deleting a whole stream is an account-permission matter; with the permission, a rebuilt chain looks fine...
      await (await jetstreamManager(nc)).streams.delete(stream);
      const rebuilt = await chainOn(nc, "hub", stream, direct);
      await appendMany(rebuilt.log, "hub-svc", 7);
      expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 7 });
      // ...except against the anchor.
      expect(await verifyAuditLog(js, { stream, anchor })).toMatchObject({
        ok: false,
        firstBrokenSeq: 5,
        reason: AuditBreak.anchorMismatch,
      });
    },
  );

  it.for(READS)("verifies thousands of records in one read %s", async ([, direct], { annotate }) => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const { js, subject } = await chainOn(await mesh.connectHub(FED_ACCOUNT), "hub", stream, direct);
    const count = 5_000;
    const head = await fillChain(js, subject, stream, count);

    const started = performance.now();
    const verified = await verifyAuditLog(js, { stream });
    await annotate(`verify: ${rate(count, started)}`);
    expect(verified).toEqual({ ok: true, count, firstSeq: 1, head });
  });

  it("works the same in a leaf's CTRL account, out of reach of its DMZ account", async () => {
    await using mesh = await startMesh({ tres: ["a"] });
    const stream = streamName(mesh.token);
    const [ctrl1, ctrl2] = [
      await mesh.connectLeaf("a", CTRL_ACCOUNT),
      await mesh.connectLeaf("a", CTRL_ACCOUNT),
    ];
    const { js, log } = await chainOn(ctrl1, "a", stream);
    const second = new AuditLog(jetstream(ctrl2), { scope: "a", stream });

    const results = await Promise.all([
      appendMany(log, "agent-intake", 25),
      appendMany(second, "agent-airlock", 25),
    ]);
    expect(
      results
        .flat()
        .map((r) => r.seq)
        .sort((x, y) => x - y),
    ).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await verifyAuditLog(js, { stream })).toMatchObject({ ok: true, count: 50 });

    const dmz = await jetstreamManager(await mesh.connectLeaf("a", DMZ_ACCOUNT));
    const missing = await dmz.streams.info(stream).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(JetStreamApiError);
    expect((missing as JetStreamApiError).code).toBe(JetStreamApiCodes.StreamNotFound);
  });
});

/**
 * Writes `count` valid records fast: pipelined publishes on one connection (which keeps their order), each
 * still guarded by its expected last sequence, so the result is exactly what AuditLog would have written.
 */
async function fillChain(js: JetStreamClient, subject: string, stream: string, count: number) {
  let prev = "0".repeat(64);
  const acks: Promise<unknown>[] = [];
  for (let seq = 1; seq <= count; seq++) {
    const bytes = pack({
      seq,
      prev,
      at: Date.now(),
      actor: "bulk",
      action: "task.submitted",
      details: { seq },
    });
    acks.push(js.publish(subject, bytes, { expect: { streamName: stream, lastSequence: seq - 1 } }));
    prev = auditHash(bytes);
    if (acks.length >= 500) await Promise.all(acks.splice(0));
  }
  await Promise.all(acks);
  return { seq: count, hash: prev };
}
