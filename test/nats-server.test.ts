/**
 * The nats-server launcher on a real binary: ready means reachable, a broken start says why, stop is
 * final and idempotent, and a restart comes back on the same URLs.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { startNatsServer, toNatsConf, waitFor } from "../common/index.js";
import { NatsServerStartError } from "../common/nats-server.js";
import { probeNatsInfo } from "../common/nats-server-probe.js";
import { listenOnFreePort } from "./harness/busy-port.js";
import { collect } from "./harness/collect.js";
import { uniqueToken } from "./harness/unique.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tremesh-launcher-${uniqueToken()}-`));
  dirs.push(dir);
  return dir;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function simpleConfig(name: string): string {
  return toNatsConf({
    server_name: name,
    host: "127.0.0.1",
    port: -1,
    http_port: -1,
    leafnodes: { host: "127.0.0.1", port: -1 },
  });
}

describe("startNatsServer", () => {
  it("reports the client, leaf and monitoring URLs of a server that answers", async () => {
    await using server = await startNatsServer({
      name: "plain",
      configText: simpleConfig(`plain-${uniqueToken()}`),
      dir: await tempDir(),
    });
    expect(server.clientUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(server.leafUrl).toMatch(/^nats-leaf:\/\/127\.0\.0\.1:\d+$/);
    expect(server.monitorUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await probeNatsInfo(server.clientUrl, 1_000)).toBe(true);
    expect(server.running).toBe(true);
  });

  it("runs the server's Go code on as many cores as `maxProcs` says, and refuses a count that is not one", async () => {
    const gomaxprocs = async (url: string | undefined) =>
      ((await (await fetch(`${url}/varz`)).json()) as { gomaxprocs: number }).gomaxprocs;
    for (const maxProcs of [1, 2]) {
      await using server = await startNatsServer({
        name: "cores",
        configText: simpleConfig(`cores-${uniqueToken()}`),
        dir: await tempDir(),
        maxProcs,
      });
      expect(await gomaxprocs(server.monitorUrl)).toBe(maxProcs);
    }
    for (const maxProcs of [0, 1.5])
      await expect(
        startNatsServer({ name: "bad", configText: simpleConfig("bad"), dir: await tempDir(), maxProcs }),
      ).rejects.toThrow(`maxProcs must be a positive integer, got ${maxProcs}`);
  });

  it("explains a config the server rejects, with the server's own words", async () => {
    const start = startNatsServer({
      name: "broken",
      configText: "port: -1\nno_such_option {{{\n",
      dir: await tempDir(),
    });
    await expect(start).rejects.toBeInstanceOf(NatsServerStartError);
    await expect(start).rejects.toThrow(
      /^nats-server "broken" could not start: Parse error on line \d+:.*\n--- log tail ---/,
    );
  });

  it("names a busy port first, and where the whole log is, instead of the start-up lines before it", async () => {
    const dir = await tempDir();
    await using busy = await listenOnFreePort();
    const start = startNatsServer({
      name: "busy",
      configText: toNatsConf({
        host: "127.0.0.1",
        port: -1,
        leafnodes: { host: "127.0.0.1", port: busy.port },
      }),
      dir,
    });
    const error = (await start.catch((e: unknown) => e)) as NatsServerStartError;
    expect(error).toBeInstanceOf(NatsServerStartError);
    expect(error.summary).toBe(
      `nats-server "busy" could not start: leafnode port ${busy.port} (127.0.0.1) is already in use`,
    );
    expect(error.failure?.port).toEqual({
      listener: "leafnode",
      host: "127.0.0.1",
      port: busy.port,
      problem: "address already in use",
    });
    expect(error.logFile).toBe(join(dir, "busy.log"));
    expect(error.logTail).toMatch(/\[FTL\] Error listening on leafnode port/);
  });

  it("refuses a second server on a folder another one runs from, leaving the first one's config as it was", async () => {
    const dir = await tempDir();
    await using first = await startNatsServer({ name: "leaf", configText: simpleConfig("first"), dir });
    const config = await readFile(first.configFile, "utf8");
    const error = await startNatsServer({ name: "leaf", configText: simpleConfig("second"), dir }).then(
      // A second server that did start is stopped here, not left running past the test.
      (second) => second.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(NatsServerStartError);
    expect((error as NatsServerStartError).summary).toBe(
      `nats-server "leaf" could not start: ${dir} is in use by another nats-server (pid ${first.pid}): ` +
        "is this one already running? stop it first, or give this one its own dataDir",
    );
    expect(await readFile(first.configFile, "utf8")).toBe(config);
    // Once the first has stopped, the folder is free again.
    await first.stop();
    await using again = await startNatsServer({ name: "leaf", configText: simpleConfig("again"), dir });
    expect(again.running).toBe(true);
  });

  it("starts on a folder whose leftover ports file names a pid another folder's server runs as", async () => {
    const [dir, elsewhere] = [await tempDir(), await tempDir()];
    await using other = await startNatsServer({
      name: "other",
      configText: simpleConfig("other"),
      dir: elsewhere,
    });
    // As a server killed here leaves it, with its pid since taken by a server of another folder.
    await writeFile(join(dir, `nats-server_${other.pid}.ports`), "{}");
    await using server = await startNatsServer({ name: "leaf", configText: simpleConfig("leaf"), dir });
    expect(server.running).toBe(true);
  });

  it("says so when the binary cannot be started", async () => {
    const start = startNatsServer({
      name: "nobinary",
      configText: simpleConfig("nobinary"),
      dir: await tempDir(),
      binary: "/nonexistent/nats-server",
    });
    await expect(start).rejects.toThrow(/could not be started/);
  });

  it("stops once, however often it is asked, and frees its port", async () => {
    const server = await startNatsServer({
      name: "stop",
      configText: simpleConfig("stop"),
      dir: await tempDir(),
    });
    await Promise.all([server.stop(), server.stop()]);
    await server.stop();
    expect(server.running).toBe(false);
    expect(await probeNatsInfo(server.clientUrl, 500)).toBe(false);
  });

  it("restarts on the same URLs, and a client reconnects by itself", async () => {
    await using server = await startNatsServer({
      name: "restart",
      configText: simpleConfig(`restart-${uniqueToken()}`),
      dir: await tempDir(),
    });
    const before = {
      client: server.clientUrl,
      leaf: server.leafUrl,
      monitor: server.monitorUrl,
      pid: server.pid,
    };
    const nc = await connect({ servers: server.clientUrl, reconnectTimeWait: 100 });
    try {
      const subject = `restart.${uniqueToken()}`;
      const seen = collect(nc, subject);
      await nc.flush();

      await server.restart();
      expect({ client: server.clientUrl, leaf: server.leafUrl, monitor: server.monitorUrl }).toEqual({
        client: before.client,
        leaf: before.leaf,
        monitor: before.monitor,
      });
      expect(server.pid).not.toBe(before.pid);

      // The client resubscribes after reconnecting; publish until the new server routes to it.
      await waitFor("the client to reconnect and receive", async () => {
        nc.publish(subject, "after restart");
        await nc.flush();
        return seen.messages.length > 0;
      });
    } finally {
      await nc.close();
    }
  });
});
