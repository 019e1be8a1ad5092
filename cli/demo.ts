/**
 * `tremesh demo`: a hub and two TRE leaves on this machine, and one signed round trip through
 * each: the hub dispatches a researcher's signed Submission to each TRE; each TRE's side verifies
 * it against its pinned hub key and answers with a TRE-signed StatusEvent that the hub verifies.
 * Everything it starts is stopped before it returns, also on failure.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { fetchLeafz, type NatsServerHandle, startNatsServer, waitFor } from "../common/index.js";
import { hubServerConfig, treAccountName } from "../hub/index.js";
import { DMZ_ACCOUNT, leafServerConfig } from "../leaf/index.js";
import {
  generateKeyPair,
  MemoryReplayGuard,
  newId,
  openEnvelope,
  type SigningKey,
  sealEnvelope,
  signingKeyFromSeed,
  subjects,
  TrustStore,
} from "../protocol/index.js";
import type { Command, Io } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { meshHubModel, meshLeafModel } from "./federation-models.js";

const TRES = ["a", "b"] as const;
const HOUR_MS = 3600_000;

function newKey(): SigningKey {
  return signingKeyFromSeed(generateKeyPair("user").seed);
}

interface RoundTrip {
  tre: string;
  taskId: string;
  dispatchMs: number;
  roundTripMs: number;
  verifiedBy: string;
  refused: number;
}

export const demo: Command = {
  name: "demo",
  summary: "start a hub and two TRE leaves here, send a signed task through each and back, stop",
  usage: "tremesh demo [--json]",
  examples: ["tremesh demo", "tremesh demo --json | jq '.roundTrips'"],
  async run(argv, io) {
    const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" } }, strict: true });
    const dir = await mkdtemp(join(tmpdir(), "tremesh-demo-"));
    const servers: NatsServerHandle[] = [];
    const connections: NatsConnection[] = [];
    try {
      const result = await roundTrips(dir, servers, connections, values.json ? () => {} : io.out);
      if (values.json) io.out(JSON.stringify(result, null, 2));
      else printTable(result.roundTrips, io);
      return result.roundTrips.every((r) => r.refused === 0) ? ExitCode.ok : ExitCode.failed;
    } finally {
      await Promise.allSettled(connections.map((nc) => nc.close()));
      for (const s of servers.reverse()) await s.stop();
      await rm(dir, { recursive: true, force: true });
    }
  },
};

async function roundTrips(
  dir: string,
  servers: NatsServerHandle[],
  connections: NatsConnection[],
  say: (line: string) => void,
) {
  const token = newId().slice(-6).toLowerCase();
  const { model: hubModel, users: hubUsers } = meshHubModel(token, dir, TRES);
  const hub = await startNatsServer({
    name: "hub",
    configText: hubServerConfig(hubModel),
    dir: join(dir, "hub"),
  });
  servers.push(hub);
  say(`hub       ${hub.clientUrl}  (leaf port ${hub.leafUrl})`);

  const leafUsers = new Map<string, ReturnType<typeof meshLeafModel>["users"]>();
  const leaves = new Map<string, NatsServerHandle>();
  for (const tre of hubModel.tres) {
    const { model, users } = meshLeafModel(token, dir, tre.name, hub.leafUrl!, tre.leaf);
    const leaf = await startNatsServer({
      name: `leaf-${tre.name}`,
      configText: leafServerConfig(model),
      dir: join(dir, `leaf-${tre.name}`),
    });
    servers.push(leaf);
    leaves.set(tre.name, leaf);
    leafUsers.set(tre.name, users);
    say(`leaf ${tre.name}    ${leaf.clientUrl}  dials out to the hub as TRE ${tre.name}`);
  }
  await waitFor(
    "every leaf link",
    async () => (await fetchLeafz(hub.monitorUrl!)).leafs.length === TRES.length,
    {
      timeoutMs: 20_000,
    },
  );

  const track = async (url: string, user: { user: string; password: string }) => {
    const nc = await connect({ servers: url, user: user.user, pass: user.password, name: "tremesh-demo" });
    connections.push(nc);
    return nc;
  };

  // Keys: the hub's, each TRE's (made inside the TRE; only the public key is shared), a researcher's.
  const hubKey = newKey();
  const researcher = newKey();
  const treKeys = new Map(TRES.map((t) => [t, newKey()]));
  const hubTrust = new TrustStore();
  for (const [tre, k] of treKeys)
    hubTrust.add({ publicKey: k.publicKey, role: "tre", name: `tre:${tre}`, tre });

  const fed = await track(hub.clientUrl, hubUsers.get("FED")!);
  const results: RoundTrip[] = [];
  for (const tre of TRES) {
    // The TRE side: pins the hub key and the researcher's, listens only in its DMZ account.
    const treTrust = new TrustStore()
      .add({ publicKey: hubKey.publicKey, role: "hub", name: "hub" })
      .add({ publicKey: researcher.publicKey, role: "researcher", name: "researcher" });
    const dmz = await track(leaves.get(tre)!.clientUrl, leafUsers.get(tre)!.get(DMZ_ACCOUNT)!);
    const replay = new MemoryReplayGuard();
    let refused = 0;
    const received = new Promise<number>((resolve) => {
      dmz.subscribe(subjects.treInbound(tre), {
        callback: (_err, msg) => {
          const opened = openEnvelope(msg.data, { trust: treTrust, expect: "dispatch", tre, replay });
          if (!opened.ok || opened.value.type !== "dispatch") {
            refused++;
            return;
          }
          const inner = openEnvelope(opened.value.body.submission, { trust: treTrust, expect: "submission" });
          if (!inner.ok) {
            refused++;
            return;
          }
          const now = Date.now();
          const status = sealEnvelope(
            "status",
            {
              id: newId(now),
              iat: now,
              exp: now + HOUR_MS,
              taskId: opened.value.body.taskId,
              tre,
              state: "received",
              actor: `tre:${tre}`,
              reason: `dispatch verified (hub key pinned), submission signed by ${inner.value.signer.name}`,
            },
            treKeys.get(tre)!,
          );
          dmz.publish(subjects.status(tre, opened.value.body.taskId), status);
          resolve(performance.now());
        },
      });
    });
    await dmz.flush();

    // The hub side: listens for this TRE's answers in the TRE's hub account.
    const treAccount = await track(hub.clientUrl, hubUsers.get(treAccountName(tre))!);
    const answered = new Promise<string>((resolve) => {
      treAccount.subscribe(subjects.treOutbound(tre), {
        callback: (_err, msg) => {
          const opened = openEnvelope(msg.data, { trust: hubTrust, expect: "status" });
          if (opened.ok) resolve(opened.value.signer.name);
          else refused++;
        },
      });
    });
    await treAccount.flush();
    // Interest crosses the leaf link asynchronously: wait until the hub sees the TRE's subscription.
    await waitFor(`the hub to see TRE ${tre}'s subscription`, async () => {
      const leafz = await fetchLeafz(hub.monitorUrl!, { subs: true });
      return leafz.leafs.some(
        (l) => l.account === treAccountName(tre) && l.subscriptions_list?.includes(subjects.treInbound(tre)),
      );
    });

    const now = Date.now();
    const submission = sealEnvelope(
      "submission",
      {
        id: newId(now),
        iat: now,
        exp: now + HOUR_MS,
        project: "demo",
        tres: [...TRES],
        analysis: { kind: "count", dataset: "patients" },
      },
      researcher,
    );
    const taskId = newId(now);
    const start = performance.now();
    fed.publish(
      subjects.dispatch(tre, taskId),
      sealEnvelope(
        "dispatch",
        { id: newId(now), iat: now, exp: now + HOUR_MS, taskId, tre, submission },
        hubKey,
      ),
    );
    const [receivedAt, verifiedBy] = await Promise.all([received, answered]);
    results.push({
      tre,
      taskId,
      dispatchMs: receivedAt - start,
      roundTripMs: performance.now() - start,
      verifiedBy,
      refused,
    });
  }
  return { hub: hub.clientUrl, roundTrips: results };
}

function printTable(rows: RoundTrip[], io: Io): void {
  io.out("");
  io.out("TRE  task id                     hub→TRE ms  round trip ms  status signed by  refused");
  for (const r of rows) {
    io.out(
      `${r.tre.padEnd(4)} ${r.taskId}  ${r.dispatchMs.toFixed(2).padStart(10)}  ${r.roundTripMs.toFixed(2).padStart(13)}  ${r.verifiedBy.padEnd(16)}  ${r.refused}`,
    );
  }
  io.out("");
  io.out("Each dispatch was verified at its TRE against the pinned hub key and the researcher's signature;");
  io.out("each TRE-signed status was verified at the hub. Everything started has been stopped.");
}
