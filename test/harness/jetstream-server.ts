/**
 * One nats-server with JetStream on a random port and a temp store, and a connection to it: for tests of one
 * JetStream-backed part on its own. Torn down, store and all, by `stop`.
 *
 * @example
 * const server = await startJetStreamServer("agent-state");
 * afterAll(() => server.stop());
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamClient, type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { startNatsServer, toNatsConf } from "../../common/index.js";
import { uniqueToken } from "./unique.js";

export interface JetStreamServer {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  stop(): Promise<void>;
}

export async function startJetStreamServer(name: string): Promise<JetStreamServer> {
  const dir = await mkdtemp(join(tmpdir(), `tremesh-${name}-`));
  const server = await startNatsServer({
    name,
    configText: toNatsConf({
      server_name: `${name}-${uniqueToken()}`,
      host: "127.0.0.1",
      port: -1,
      jetstream: { store_dir: join(dir, "js") },
    }),
    dir,
  });
  const nc = await connect({ servers: server.clientUrl });
  const js = jetstream(nc);
  return {
    nc,
    js,
    jsm: await js.jetstreamManager(),
    stop: async () => {
      await nc.close();
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
