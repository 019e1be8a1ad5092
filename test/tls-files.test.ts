import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFederationCa, issueCertificate } from "../admin/index.js";
import { type LoadedYaml, plaintextProblem, readClientTls, readServerTls } from "../common/index.js";
import { loadHubConfig } from "../hub/index.js";

let dir: string;
const loaded = (): LoadedYaml => ({ file: join(dir, "hub.yaml"), dir, value: {} });

async function put(name: string, text: string, mode = 0o644): Promise<string> {
  await writeFile(join(dir, name), text, { mode });
  return `./${name}`;
}

describe("TLS files, read and checked before any server uses them", () => {
  let ca: Awaited<ReturnType<typeof createFederationCa>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "tremesh-tls-"));
    ca = await createFederationCa({ name: "test federation" });
    await put("ca.crt", ca.certPem);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("accepts a node certificate the CA issued, with its key, and reports its names and expiry", async () => {
    const node = await issueCertificate(ca, {
      commonName: "hub-1",
      hosts: ["hub-1.example.org", "127.0.0.1"],
      usage: "node",
    });
    const files = await readServerTls(
      loaded(),
      {
        certFile: await put("n.crt", node.certPem),
        keyFile: await put("n.key", node.keyPem, 0o600),
        caFile: "./ca.crt",
      },
      "tls.",
    );
    expect(files.certificate.dnsNames).toEqual(["hub-1.example.org"]);
    expect(files.certificate.ipAddresses).toEqual(["127.0.0.1"]);
    expect(files.certificate.notAfter.getTime()).toBeGreaterThan(Date.now() + 300 * 86_400_000);
    expect(files.certFile).toBe(join(dir, "n.crt"));
  });

  it("refuses an expired certificate, naming the field, the file and the date", async () => {
    const old = await issueCertificate(ca, {
      commonName: "hub-1",
      hosts: ["127.0.0.1"],
      usage: "node",
      validityDays: 1,
      now: new Date(Date.now() - 10 * 86_400_000),
    });
    await expect(
      readServerTls(
        loaded(),
        {
          certFile: await put("old.crt", old.certPem),
          keyFile: await put("old.key", old.keyPem, 0o600),
          caFile: "./ca.crt",
        },
        "tls.",
      ),
    ).rejects.toThrow(/tls\.certFile.*old\.crt: the certificate expired on/);
  });

  it("refuses a key that is not the certificate's", async () => {
    const a = await issueCertificate(ca, { commonName: "a", hosts: ["127.0.0.1"], usage: "node" });
    const b = await issueCertificate(ca, { commonName: "b", hosts: ["127.0.0.1"], usage: "node" });
    await expect(
      readServerTls(
        loaded(),
        {
          certFile: await put("a.crt", a.certPem),
          keyFile: await put("b.key", b.keyPem, 0o600),
          caFile: "./ca.crt",
        },
        "tls.",
      ),
    ).rejects.toThrow(/tls\.keyFile.*b\.key is not the private key of the certificate in \.\/a\.crt/);
  });

  it("refuses a certificate another CA issued, a key readable by others, and a missing file", async () => {
    const other = await createFederationCa({ name: "other" });
    const foreign = await issueCertificate(other, { commonName: "x", hosts: ["127.0.0.1"], usage: "node" });
    const section = {
      certFile: await put("f.crt", foreign.certPem),
      keyFile: await put("f.key", foreign.keyPem, 0o600),
      caFile: "./ca.crt",
    };
    await expect(readServerTls(loaded(), section, "tls.")).rejects.toThrow(
      /was not issued by the CA in caFile/,
    );
    await put("open.key", foreign.keyPem, 0o644);
    await expect(
      readServerTls(loaded(), { ...section, caFile: "./ca.crt", keyFile: "./open.key" }, "tls."),
    ).rejects.toThrow(/tls\.keyFile/);
    await expect(readServerTls(loaded(), { ...section, certFile: "./none.crt" }, "tls.")).rejects.toThrow(
      /tls\.certFile.*cannot read \.\/none\.crt \(ENOENT\)/,
    );
  });

  it("refuses a caFile that holds no CA certificate", async () => {
    const leaf = await issueCertificate(ca, { commonName: "leaf", hosts: [], usage: "client" });
    await put("leaf.crt", leaf.certPem);
    await put("junk.crt", "not a certificate");
    await expect(readClientTls(loaded(), { caFile: "./leaf.crt" }, "hub.")).rejects.toThrow(
      /hub\.caFile.*not a CA/,
    );
    await expect(readClientTls(loaded(), { caFile: "./junk.crt" }, "hub.")).rejects.toThrow(
      /hub\.caFile.*holds no PEM certificate/,
    );
  });

  it("takes a client certificate only with its key", async () => {
    const client = await issueCertificate(ca, { commonName: "leaf-a", hosts: [], usage: "client" });
    await put("c.crt", client.certPem);
    await expect(
      readClientTls(loaded(), { caFile: "./ca.crt", certFile: "./c.crt" }, "hub."),
    ).rejects.toThrow(/hub\.keyFile.*certFile and keyFile together/);
    const files = await readClientTls(
      loaded(),
      { caFile: "./ca.crt", certFile: "./c.crt", keyFile: await put("c.key", client.keyPem, 0o600) },
      "hub.",
    );
    expect(files.certificate?.subject).toContain("leaf-a");
  });
});

describe("the plaintext rule for links that may leave the machine", () => {
  const fields = { caFile: "hub.caFile", insecure: "hub.insecure" };
  it("lets loopback stay plaintext and asks TLS of every other address", () => {
    expect(plaintextProblem("nats://127.0.0.1:4222", {}, undefined, fields)).toBeUndefined();
    expect(plaintextProblem("nats-leaf://localhost:7422", {}, undefined, fields)).toBeUndefined();
    expect(plaintextProblem("nats://[::1]:4222", {}, undefined, fields)).toBeUndefined();
    expect(plaintextProblem("nats-leaf://hub.example.org:7422", {}, undefined, fields)).toMatch(
      /plaintext to a non-loopback address: use tls:\/\/hub\.example\.org:7422 with `hub\.caFile`.*`hub\.insecure: true`/,
    );
    expect(plaintextProblem("nats-leaf://hub.example.org:7422", {}, true, fields)).toBeUndefined();
  });
  it("asks a pinned CA of a TLS URL, and a TLS URL of a pinned CA", () => {
    expect(plaintextProblem("tls://hub.example.org:7422", {}, undefined, fields)).toMatch(
      /give `hub\.caFile`/,
    );
    expect(
      plaintextProblem("tls://hub.example.org:7422", { caFile: "/ca.crt" }, undefined, fields),
    ).toBeUndefined();
    expect(plaintextProblem("nats://hub.example.org:4222", { caFile: "/ca.crt" }, undefined, fields)).toMatch(
      /not a TLS URL/,
    );
  });
});

describe("hub.yaml under the plaintext rule", () => {
  it("refuses listeners off loopback without TLS, unless hub.yaml says insecure: true", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-hubyaml-"));
    try {
      const write = async (name: string, value: Record<string, unknown>) => {
        const path = join(dir, name);
        await writeFile(path, JSON.stringify({ dataDir: "./d", signingKeyFile: "./hub.seed", ...value }));
        return path;
      };
      await expect(loadHubConfig(await write("open.yaml", { host: "198.51.100.1" }))).rejects.toThrow(
        /tls: is required: host 198\.51\.100\.1 is not a loopback address.*`insecure: true`/,
      );
      await expect(
        loadHubConfig(await write("monitor.yaml", { monitorHost: "198.51.100.1" })),
      ).rejects.toThrow(/tls: is required: monitorHost/);
      // With insecure: true the rule lets it through; the next check (the signing key) is what fails here.
      await expect(
        loadHubConfig(await write("insecure.yaml", { host: "198.51.100.1", insecure: true })),
      ).rejects.toThrow(/signingKeyFile/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
