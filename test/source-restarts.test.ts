/**
 * When a watcher restarts a stale source, on a real nats-server: never while the other side is away, once when
 * it is back, and not again until that restart was answered, the other side came back after it, or the server
 * has given up on it. Each restart the rules forbid would leave a lost consumer request behind, which nats-server
 * 2.10 answers 30 s later by cancelling the source's new, healthy consumer (source-restarts.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type NatsServerHandle,
  observedLink,
  SourceRestarts,
  startNatsServer,
  toNatsConf,
  waitFor,
} from "../common/index.js";
import { uniqueToken } from "./harness/unique.js";

let dir: string;
let server: NatsServerHandle;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), `tremesh-sources-${uniqueToken()}-`));
  server = await startNatsServer({
    name: "sources",
    dir,
    configText: toNatsConf({
      server_name: `sources-${uniqueToken()}`,
      host: "127.0.0.1",
      port: -1,
      jetstream: { store_dir: join(dir, "js") },
    }),
  });
});
afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function manager() {
  const nc = await connect({ servers: server.clientUrl });
  connections.push(nc);
  return Object.assign(await jetstreamManager(nc), { js: jetstream(nc) });
}

/** A clock the test moves by hand; the server's own idea of a source's activity stays real. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** A stream sourcing OUTBOX from a far side that never answers: the consumer request is lost, as over a link that is down. */
async function awayStream(jsm: JetStreamManager, prefix: string): Promise<string> {
  const name = `${prefix}_${uniqueToken()}`;
  await jsm.streams.add({ name, subjects: [], sources: [{ name: "OUTBOX", external: { api: awayApi() } }] });
  return name;
}

function awayApi(): string {
  return `$JS.away${uniqueToken()}.API`;
}

describe("SourceRestarts", () => {
  it("restarts a source whose consumer request was lost only as the rules allow", async () => {
    const jsm = await manager();
    const name = await awayStream(jsm, "AWAY");
    await waitFor("the source to be listed, never heard from", async () => {
      const info = await jsm.streams.info(name);
      return info.sources?.[0]?.active === -1 ? true : undefined;
    });
    const t = clock();
    const restarts = new SourceRestarts({ now: t.now, settleMs: 35_000, confirmMs: 1_000 });

    // The other side is away: nothing to gain, and a lost request to leave behind.
    expect(await restarts.check(jsm, name, () => ({ up: false }))).toEqual([]);
    t.advance(5_000);
    expect(await restarts.check(jsm, name, () => ({ up: false }))).toEqual([]);

    // It is back: a first restart.
    const back = t.now();
    expect(await restarts.check(jsm, name, () => ({ up: true, since: back }))).toEqual(["OUTBOX"]);
    // Unanswered since, and no sign of the other side after it: wait.
    t.advance(2_000);
    expect(await restarts.check(jsm, name, () => ({ up: true, since: back }))).toEqual([]);
    // The other side showed up after that restart (a newer heartbeat): once more.
    t.advance(2_000);
    const seenAgain = t.now();
    expect(await restarts.check(jsm, name, () => ({ up: true, since: seenAgain }))).toEqual(["OUTBOX"]);
    t.advance(10_000);
    expect(await restarts.check(jsm, name, () => ({ up: true, since: seenAgain }))).toEqual([]);
    // The server has given up on the last request: a restart leaves nothing behind.
    t.advance(26_000);
    expect(await restarts.check(jsm, name, () => ({ up: true, since: seenAgain }))).toEqual(["OUTBOX"]);

    // The stream kept its own configuration through the restarts.
    const { config } = await jsm.streams.info(name);
    expect(config.subjects ?? []).toEqual([]);
    expect(config.sources?.map((s) => s.name)).toEqual(["OUTBOX"]);
  });

  it("restarts at first sight a source its caller noted as set a while ago", async () => {
    const jsm = await manager();
    const name = await awayStream(jsm, "NOTED");
    const t = clock();
    const fresh = new SourceRestarts({ now: t.now });
    // Met for the first time: it may have been asked for a moment ago.
    expect(await fresh.check(jsm, name, () => ({ up: true, since: t.now() }))).toEqual([]);
    const noted = new SourceRestarts({ now: t.now });
    noted.note(name, t.now() - 2_000);
    expect(await noted.check(jsm, name, () => ({ up: true, since: t.now() }))).toEqual(["OUTBOX"]);

    // A source added after the note is met later, and gets its second like any other.
    const later = `LATER_${uniqueToken()}`;
    const info = await jsm.streams.info(name);
    noted.note(name, t.now() - 2_000);
    expect(await noted.check(jsm, name, () => ({ up: false }))).toEqual([]);
    await jsm.streams.update(name, {
      ...info.config,
      sources: [...(info.config.sources ?? []), { name: later, external: { api: awayApi() } }],
    });
    // (The far side last seen when OUTBOX was restarted: OUTBOX itself waits.)
    const seen = t.now();
    expect(await noted.check(jsm, name, () => ({ up: true, since: seen }))).toEqual([]);
    t.advance(1_000);
    expect(await noted.check(jsm, name, () => ({ up: true, since: seen }))).toEqual([later]);
  });

  it("gives a just-added source time to be answered, and leaves a healthy one alone", async () => {
    const jsm = await manager();
    const origin = `ORIGIN_${uniqueToken()}`;
    const copy = `COPY_${uniqueToken()}`;
    await jsm.streams.add({ name: origin, subjects: [`origin.${origin}.>`] });
    const t = clock();
    const restarts = new SourceRestarts({ now: t.now });
    await jsm.streams.add({ name: copy, subjects: [], sources: [{ name: origin }] });
    // Checked the moment it was added: a source not heard from yet is not restarted before `confirmMs`.
    expect(await restarts.check(jsm, copy)).toEqual([]);

    await jsm.js.publish(`origin.${origin}.x`, "1");
    await waitFor("the copy", async () =>
      (await jsm.streams.info(copy)).state.messages === 1 ? true : undefined,
    );
    t.advance(60_000);
    expect(await restarts.check(jsm, copy)).toEqual([]);
  });

  it("restarts a source in error at once, whatever is known of the other side", async () => {
    const jsm = await manager();
    const name = `ORPHAN_${uniqueToken()}`;
    // The source stream does not exist: the server's request is answered, with an error.
    await jsm.streams.add({ name, subjects: [], sources: [{ name: `MISSING_${uniqueToken()}` }] });
    await waitFor("the source's error", async () => {
      const info = await jsm.streams.info(name);
      return info.sources?.[0]?.error ? true : undefined;
    });
    const restarts = new SourceRestarts();
    const [restarted] = await restarts.check(jsm, name, () => ({ up: false }));
    expect(restarted).toMatch(/^MISSING_/);
  });
});

describe("observedLink", () => {
  it("is up from the first poll that finds the link after one that did not", async () => {
    let linked = false;
    let t = 100;
    const link = observedLink(
      async () => linked,
      () => t,
    );
    expect(await link()).toEqual({ up: false });
    linked = true;
    t = 200;
    expect(await link()).toEqual({ up: true, since: 200 });
    t = 300;
    expect(await link()).toEqual({ up: true, since: 200 });
    linked = false;
    expect(await link()).toEqual({ up: false });
    linked = true;
    t = 400;
    expect(await link()).toEqual({ up: true, since: 400 });
    // A poll that fails (the monitoring port not answering) counts as down.
    const failing = observedLink(async () => {
      throw new Error("unreachable");
    });
    expect(await failing()).toEqual({ up: false });
  });
});
