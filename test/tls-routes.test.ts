/**
 * Mutual TLS between hub nodes, on real nats-servers rendered by the hub's own config model: two nodes whose
 * certificates the cluster's CA issued route to each other; a third, with a certificate from another CA (or none
 * the cluster trusts), is refused and never joins.
 */
import { X509Certificate } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePorts } from "../admin/federation-files.js";
import { createFederationCa, type IssuedPem, issueCertificate } from "../admin/index.js";
import {
  certificateInfo,
  type NatsServerHandle,
  startNatsServer,
  toNatsConf,
  waitFor,
} from "../common/index.js";
import { listenerBlock } from "../hub/server-config.js";

const servers: NatsServerHandle[] = [];
let dir: string;

afterAll(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Routez {
  routes?: { remote_id: string }[];
}
async function routez(server: NatsServerHandle): Promise<Routez> {
  return (await (await fetch(new URL("/routez", server.monitorUrl))).json()) as Routez;
}
async function serverId(server: NatsServerHandle): Promise<string> {
  return ((await (await fetch(new URL("/varz", server.monitorUrl))).json()) as { server_id: string })
    .server_id;
}

describe("cluster routes over mutual TLS", () => {
  it("refuses a route from a node without a certificate the cluster's CA issued", async () => {
    dir = await mkdtemp(join(tmpdir(), "tremesh-routes-"));
    const ca = await createFederationCa({ name: "cluster CA" });
    const stranger = await createFederationCa({ name: "another CA" });
    await writeFile(join(dir, "ca.crt"), ca.certPem);
    const ports = await freePorts(3);
    const routes = ports.map((p) => `nats-route://127.0.0.1:${p}`);
    const start = async (name: string, issuer: IssuedPem, port: number) => {
      const issued = await issueCertificate(issuer, {
        commonName: name,
        hosts: ["127.0.0.1"],
        usage: "node",
      });
      await writeFile(join(dir, `${name}.crt`), issued.certPem);
      await writeFile(join(dir, `${name}.key`), issued.keyPem, { mode: 0o600 });
      // The rogue node pins the cluster's CA too (it is public); only its own certificate is foreign.
      const files = {
        certFile: join(dir, `${name}.crt`),
        keyFile: join(dir, `${name}.key`),
        caFile: join(dir, "ca.crt"),
        certificate: certificateInfo(new X509Certificate(issued.certPem)),
      };
      const configText = toNatsConf(
        listenerBlock({
          serverName: name,
          storeDir: join(dir, name, "js"),
          tls: { files, minVersion: "1.3", leafClientCerts: false },
          cluster: {
            name: "tremesh-hub",
            port,
            routes,
            credential: { user: "route", password: "route-password-for-this-test" },
          },
        }),
      );
      const server = await startNatsServer({ name, configText, dir: join(dir, name) });
      servers.push(server);
      return server;
    };
    const [p1, p2, p3] = ports as [number, number, number];
    const hub1 = await start("hub-1", ca, p1);
    const hub2 = await start("hub-2", ca, p2);
    const rogue = await start("rogue", stranger, p3);
    const [id2, idRogue] = [await serverId(hub2), await serverId(rogue)];

    await waitFor("hub-1 and hub-2 to route to each other", async () =>
      ((await routez(hub1)).routes ?? []).some((r) => r.remote_id === id2),
    );
    await waitFor(
      "the rogue's route to be refused over TLS",
      async () => /tls|certificate/i.test((await hub1.readLog()) + (await rogue.readLog())),
      { timeoutMs: 30_000 },
    );
    for (const node of [hub1, hub2])
      expect(((await routez(node)).routes ?? []).map((r) => r.remote_id)).not.toContain(idRogue);
    expect((await routez(rogue)).routes ?? []).toEqual([]);
    expect(await rogue.readLog()).toMatch(/certificate|tls/i);
  }, 120_000);
});
