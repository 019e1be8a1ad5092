import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFederationCa, issueCertificate } from "../admin/index.js";
import { fetchLeafz, type NatsServerHandle, startNatsServer } from "../common/index.js";
import { NatsMonitorError } from "../common/nats-monitor.js";

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe("reading a nats-server's monitoring port", () => {
  let dir: string;
  let plain: NatsServerHandle;
  let secure: NatsServerHandle;
  let caFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tremesh-monitor-"));
    const ca = await createFederationCa({ name: "monitor test CA" });
    const node = await issueCertificate(ca, { commonName: "hub", hosts: ["127.0.0.1"], usage: "node" });
    caFile = join(dir, "ca.crt");
    await writeFile(caFile, ca.certPem);
    await writeFile(join(dir, "node.crt"), node.certPem);
    await writeFile(join(dir, "node.key"), node.keyPem, { mode: 0o600 });
    plain = await startNatsServer({
      name: "plain",
      dir: join(dir, "plain"),
      configText: 'listen: "127.0.0.1:-1"\nhttp: "127.0.0.1:-1"\n',
      stopTimeoutMs: 2_000,
    });
    // A hub whose monitoring port leaves loopback serves it over https, with the node's certificate.
    secure = await startNatsServer({
      name: "secure",
      dir: join(dir, "secure"),
      configText: [
        'listen: "127.0.0.1:-1"',
        'https: "127.0.0.1:-1"',
        `tls { cert_file: "${join(dir, "node.crt")}", key_file: "${join(dir, "node.key")}", ca_file: "${caFile}" }`,
        "",
      ].join("\n"),
      stopTimeoutMs: 2_000,
    });
  }, 60_000);

  afterAll(async () => {
    await plain?.stop();
    await secure?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("reads /leafz over http", async () => {
    expect(plain.monitorUrl).toMatch(/^http:\/\//);
    const leafz = await fetchLeafz(plain.monitorUrl!);
    expect(leafz.server_id).toMatch(/^N[A-Z0-9]+$/);
    expect(leafz.leafs).toEqual([]);
  });

  it("reads /leafz over https, trusting the federation's CA", async () => {
    expect(secure.monitorUrl).toMatch(/^https:\/\//);
    const leafz = await fetchLeafz(secure.monitorUrl!, { tls: { caFile } });
    expect(leafz.server_id).toMatch(/^N[A-Z0-9]+$/);
  });

  it("refuses an https port whose certificate no trusted CA signed, naming the address", async () => {
    const read = fetchLeafz(secure.monitorUrl!);
    await expect(read).rejects.toBeInstanceOf(NatsMonitorError);
    await expect(read).rejects.toThrow(
      `${new URL("/leafz", secure.monitorUrl).href}: monitoring endpoint unreachable`,
    );
  });

  it("says a port nothing listens on is unreachable, naming the address", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    await expect(fetchLeafz(url)).rejects.toThrow(`${url}/leafz: monitoring endpoint unreachable`);
  });
});
