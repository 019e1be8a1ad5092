/**
 * `tremesh admin init`'s TLS: a private federation CA by default, or the organisation's own PKI checked and copied
 * in; the names each node's certificate carries; renewal; and the refusals an admin meets, through the CLI.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createFederationCa, issueCertificate } from "../admin/index.js";
import { run } from "../cli/main.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-admin-tls-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("admin init and TLS", () => {
  it("names the URLs' host in the certificate of a hub that binds every interface, and refuses one with no name", async () => {
    const refused = await cli(["admin", "init", "--dir", join(dir, "any"), "--host", "0.0.0.0"]);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(
      /binds every interface: give the URLs clients dial \(--client-url, --leaf-url\)/,
    );
    const admin = join(dir, "named");
    const made = await cli([
      "admin",
      "init",
      "--dir",
      admin,
      "--host",
      "0.0.0.0",
      "--client-url",
      "tls://hub.example.org:4222",
      "--leaf-url",
      "tls://hub.example.org:7422",
    ]);
    expect(made.code, made.err).toBe(0);
    const status = await cli(["admin", "tls", "status", "--dir", admin, "--json"]);
    expect(status.code).toBe(0);
    const doc = JSON.parse(status.out) as {
      ca: string;
      nodes: Record<string, { dnsNames: string[]; ipAddresses: string[] }>;
    };
    expect(doc.ca).toBe("private");
    expect(doc.nodes.hub).toMatchObject({ dnsNames: ["hub.example.org"], ipAddresses: [] });
    // Every bundle's profile pins the CA and dials tls://.
    const profile = parse(await readFile(join(admin, "admin.profile.yaml"), "utf8")) as Record<
      string,
      string
    >;
    expect(profile).toMatchObject({ hub: "tls://hub.example.org:4222", caFile: "./tls/ca.crt" });
  });

  it("renews every node's certificate from the private CA with the same names and a new key", async () => {
    const admin = join(dir, "renew");
    expect((await cli(["admin", "init", "--dir", admin, "--host", "127.0.0.1"])).code).toBe(0);
    const before = await readFile(join(admin, "hub", "tls", "hub.crt"), "utf8");
    const keyBefore = await readFile(join(admin, "hub", "secrets", "hub.key"), "utf8");
    const renewed = await cli(["admin", "tls", "renew", "--dir", admin, "--days", "90"]);
    expect(renewed.code, renewed.err).toBe(0);
    expect(renewed.out).toMatch(/hub .* expires .* \((89|90) days\)\s+names 127\.0\.0\.1/);
    expect(await readFile(join(admin, "hub", "tls", "hub.crt"), "utf8")).not.toBe(before);
    expect(await readFile(join(admin, "hub", "secrets", "hub.key"), "utf8")).not.toBe(keyBefore);
    expect((await cli(["admin", "tls", "renew", "--dir", admin, "--days", "0"])).code).toBe(2);
  });

  it("takes the organisation's own CA and node certificates after checking them, and leaves renewal to that PKI", async () => {
    const org = await createFederationCa({ name: "Example Org Issuing CA" });
    const node = await issueCertificate(org, {
      commonName: "hub",
      hosts: ["hub.example.org"],
      usage: "node",
    });
    const wrongName = await issueCertificate(org, {
      commonName: "hub",
      hosts: ["other.example.org"],
      usage: "node",
    });
    const stranger = await issueCertificate(await createFederationCa({ name: "x" }), {
      commonName: "hub",
      hosts: ["hub.example.org"],
      usage: "node",
    });
    for (const [name, text, mode] of [
      ["org-ca.pem", org.certPem, 0o644],
      ["hub.pem", node.certPem, 0o644],
      ["hub.key", node.keyPem, 0o600],
      ["wrong.pem", wrongName.certPem, 0o644],
      ["wrong.key", wrongName.keyPem, 0o600],
      ["stranger.pem", stranger.certPem, 0o644],
      ["stranger.key", stranger.keyPem, 0o600],
    ] as const)
      await writeFile(join(dir, name), text, { mode });
    const init = (admin: string, cert: string, key: string) =>
      cli([
        "admin",
        "init",
        "--dir",
        join(dir, admin),
        "--host",
        "hub.example.org",
        "--tls-ca",
        join(dir, "org-ca.pem"),
        "--tls-cert",
        `hub=${join(dir, cert)}`,
        "--tls-key",
        `hub=${join(dir, key)}`,
      ]);
    const wrong = await init("wrong", "wrong.pem", "wrong.key");
    expect(wrong.code).toBe(3);
    expect(wrong.err).toMatch(/--tls-cert hub=.*wrong\.pem: does not name hub\.example\.org/);
    const foreign = await init("foreign", "stranger.pem", "stranger.key");
    expect(foreign.code).toBe(3);
    expect(foreign.err).toMatch(/was not issued by the CA in caFile/);
    const mismatched = await init("mismatched", "hub.pem", "wrong.key");
    expect(mismatched.code).toBe(3);
    expect(mismatched.err).toMatch(/is not this certificate's/);

    const ok = await init("org", "hub.pem", "hub.key");
    expect(ok.code, ok.err).toBe(0);
    expect(await readFile(join(dir, "org", "hub", "tls", "hub.crt"), "utf8")).toBe(node.certPem);
    expect(await readFile(join(dir, "org", "tls", "ca.crt"), "utf8")).toBe(org.certPem);
    const renew = await cli(["admin", "tls", "renew", "--dir", join(dir, "org")]);
    expect(renew.code).toBe(1);
    expect(renew.err).toMatch(/your own PKI; renew them there/);
  });

  it("refuses plaintext for a hub off loopback unless --insecure says so", async () => {
    const plain = await cli([
      "admin",
      "init",
      "--dir",
      join(dir, "plain"),
      "--host",
      "hub.example.org",
      "--no-tls",
    ]);
    expect(plain.code).toBe(2);
    expect(plain.err).toMatch(/a hub off loopback needs TLS .*--insecure/);
    const insecure = await cli([
      "admin",
      "init",
      "--dir",
      join(dir, "insecure"),
      "--host",
      "hub.example.org",
      "--no-tls",
      "--insecure",
    ]);
    expect(insecure.code, insecure.err).toBe(0);
    const hub = parse(await readFile(join(dir, "insecure", "hub", "hub.yaml"), "utf8")) as Record<
      string,
      unknown
    >;
    expect(hub.insecure).toBe(true);
    expect(hub.tls).toBeUndefined();
  });
});
