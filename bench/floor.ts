/**
 * The NATS floor: what NATS itself costs on this machine, measured in the same run as the end-to-end figures so
 * each of them can be read as a multiple of it. On the test harness's mesh (tremesh's own hub and leaf server
 * configs: one account per TRE on the hub, the leaf's DMZ account bound to an authenticated leaf link):
 *
 * - leaf round trip: a request from a client in the TRE's hub account to a responder on the TRE's leaf (DMZ), on
 *   the TRE's dispatch subject, and its reply back across the link: the shortest hub → TRE → hub exchange;
 * - hub round trip: the same request and reply with both clients on the hub (no leaf link), for reference;
 * - JetStream publish: an acknowledged publish with a message id (as every tremesh producer sets) to a file
 *   stream with tremesh's stream settings, one at a time (latency) and with a window in flight (throughput);
 * - KV read and compare-and-set write on the hub: the step the hub's task state and the agents' state repeat
 *   many times per task, one after the other.
 *
 * The payload is a sealed status envelope, the size of the messages tremesh sends most.
 *
 *   npm run bench -- floor
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { baseStreamConfig } from "../common/index.js";
import { findNatsServer, natsServerVersion } from "../common/nats-binary.js";
import { FED_ACCOUNT } from "../hub/account-names.js";
import { treAccountName } from "../hub/index.js";
import { DMZ_ACCOUNT } from "../leaf/account-names.js";
import { generateKeyPair, newId, sealEnvelope, signingKeyFromSeed, subjects } from "../protocol/index.js";
import { startMesh } from "../test/harness/mesh.js";
import { formatLatency, type Latency, latency, machine, round2 } from "./measure.js";

const TRE = "floor";
/** The floor's own stream and subject, in the hub's FED account: nothing of tremesh's publishes there. */
const FLOOR_STREAM = "BENCH_FLOOR";
const FLOOR_SUBJECT = "bench.floor.publish";
const FLOOR_BUCKET = "BENCH_FLOOR";

export interface FloorOptions {
  /** Timed request/reply round trips and timed publishes, each. Default 2 000. */
  samples?: number;
  /** Publishes of the throughput run. Default 20 000. */
  throughputMessages?: number;
  /** Publishes in flight in the throughput run. Default 256. */
  window?: number;
}

export type FloorResult = Awaited<ReturnType<typeof runFloorBench>>;

export async function runFloorBench({
  samples = 2_000,
  throughputMessages = 20_000,
  window = 256,
}: FloorOptions = {}) {
  await using mesh = await startMesh({ tres: [TRE] });
  const payload = statusEnvelope();
  const subject = subjects.dispatch(TRE, newId());

  const hubTre = await mesh.connectHub(treAccountName(TRE));
  const leafDmz = await mesh.connectLeaf(TRE, DMZ_ACCOUNT);
  echo(leafDmz, subject);
  await leafDmz.flush();
  await mesh.waitForHubInterest(TRE, subject);
  const leafRoundTrip = await roundTrips(hubTre, subject, payload, samples);

  const localSubject = subjects.dispatch(TRE, newId());
  const hubResponder = await mesh.connectHub(treAccountName(TRE));
  echo(hubResponder, localSubject);
  await hubResponder.flush();
  const hubRoundTrip = await roundTrips(hubTre, localSubject, payload, samples);

  const fed = await mesh.connectHub(FED_ACCOUNT);
  await (await jetstreamManager(fed)).streams.add({
    ...baseStreamConfig(),
    name: FLOOR_STREAM,
    subjects: [FLOOR_SUBJECT],
  });
  const publish = await publishLatency(fed, payload, samples);
  const pipelined = await publishThroughput(fed, payload, throughputMessages, window);
  const kv = await kvLatency(fed, payload, samples);

  return {
    bench: "floor",
    machine: machine(),
    natsServer: natsServerVersion(findNatsServer()) ?? "unknown",
    payloadBytes: payload.length,
    leafRoundTrip,
    hubRoundTrip,
    jetStreamPublish: { ...publish, sequentialPerSecond: round2(1000 / publish.meanMs) },
    jetStreamPipelined: { messages: throughputMessages, window, perSecond: Math.round(pipelined) },
    kvGet: kv.get,
    kvUpdate: kv.update,
  };
}

/** A sealed status envelope: the size and shape of what tremesh sends most. */
function statusEnvelope(): Uint8Array {
  const now = Date.now();
  const key = signingKeyFromSeed(generateKeyPair("user").seed);
  return sealEnvelope(
    "status",
    {
      id: newId(now),
      iat: now,
      exp: now + 3_600_000,
      taskId: newId(now),
      tre: TRE,
      state: "running",
      actor: "agent",
    },
    key,
  );
}

function echo(nc: NatsConnection, subject: string): void {
  nc.subscribe(subject, {
    callback: (_e, m) => {
      m.respond(m.data);
    },
  });
}

async function roundTrips(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array,
  n: number,
): Promise<Latency> {
  return timeEach(n, () => nc.request(subject, payload, { timeout: 5_000 }));
}

async function publishLatency(nc: NatsConnection, payload: Uint8Array, n: number): Promise<Latency> {
  const js = jetstream(nc);
  return timeEach(n, () => js.publish(FLOOR_SUBJECT, payload, { msgID: newId() }));
}

/** Acknowledged publishes per second with `window` in flight. */
async function publishThroughput(
  nc: NatsConnection,
  payload: Uint8Array,
  n: number,
  window: number,
): Promise<number> {
  const js = jetstream(nc);
  let next = 0;
  const worker = async () => {
    while (next++ < n) await js.publish(FLOOR_SUBJECT, payload, { msgID: newId() });
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: window }, worker));
  return n / ((performance.now() - start) / 1000);
}

/** A KV get, and a compare-and-set update of the revision just read, on a file bucket as tremesh makes them. */
async function kvLatency(nc: NatsConnection, payload: Uint8Array, n: number) {
  const kv = await new Kvm(jetstream(nc)).create(FLOOR_BUCKET, { history: 1 });
  let revision = await kv.put("state", payload);
  const get = await timeEach(n, () => kv.get("state"));
  const update = await timeEach(n, async () => {
    revision = await kv.update("state", payload, revision);
  });
  return { get, update };
}

/** Times `n` sequential calls after a warm-up of a tenth as many. */
async function timeEach(n: number, fn: () => Promise<unknown>): Promise<Latency> {
  for (let i = 0; i < Math.ceil(n / 10); i++) await fn();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await fn();
    samples.push(performance.now() - start);
  }
  return latency(samples);
}

export function printFloorBench(r: FloorResult): void {
  console.log(
    `NATS floor — nats-server ${r.natsServer}, ${r.payloadBytes}-byte payload; ${r.machine.cpu}, ${r.machine.cores} cores, Node ${r.machine.node}, ${r.machine.date}`,
  );
  console.log(formatLatency("leaf round trip (hub client → leaf responder → hub)", r.leafRoundTrip));
  console.log(formatLatency("hub round trip (both clients on the hub)", r.hubRoundTrip));
  console.log(formatLatency("JetStream publish, acked, file stream", r.jetStreamPublish));
  console.log(
    `${"JetStream publish, one at a time".padEnd(52)} ${Math.round(r.jetStreamPublish.sequentialPerSecond).toLocaleString("en-GB").padStart(9)} msgs/s`,
  );
  console.log(formatLatency("KV get (hub)", r.kvGet));
  console.log(formatLatency("KV compare-and-set update (hub)", r.kvUpdate));
  console.log(
    `${`JetStream publish, ${r.jetStreamPipelined.window} in flight`.padEnd(52)} ${r.jetStreamPipelined.perSecond.toLocaleString("en-GB").padStart(9)} msgs/s`,
  );
}
