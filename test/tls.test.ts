/**
 * TLS on a real federation (operator mode, as `tremesh admin init` builds it, with its private CA): what a TRE, a
 * researcher and an attacker meet on every link. Each refusal is shown with the words a person gets; the renewal
 * of the hub's certificate on a running hub loses nothing.
 */
import { writeFile } from "node:fs/promises";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  AdminStore,
  createFederationCa,
  issueCertificate,
  issueLeafCertificate,
  renewNodeCertificates,
} from "../admin/index.js";
import { ExitCode } from "../cli/exit-codes.js";
import { run } from "../cli/main.js";
import { connectProfile, loadProfile } from "../cli/profile.js";
import { fetchLeafz, probeTls, waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import { type HubNodeEvent, loadHubConfig } from "../hub/index.js";
import { type LeafNode, type LeafNodeEvent, loadLeafConfig, startLeafNode } from "../leaf/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { approveProject, type Federation, startFederation } from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { uniqueToken } from "./harness/unique.js";

let fed: Federation;
const hubEvents: HubNodeEvent[] = [];
const extraLeaves: LeafNode[] = [];

async function readYaml(path: string): Promise<Record<string, unknown>> {
  const { readFile } = await import("node:fs/promises");
  return parse(await readFile(path, "utf8")) as Record<string, unknown>;
}

/** A copy of TRE `tre`'s leaf.yaml with `change` applied, as its own server (own name, store and port). */
async function leafVariant(tre: string, name: string, change: (hub: Record<string, unknown>) => void) {
  const config = await readYaml(fed.files.leafConfigs[tre]!);
  const hub = { ...(config.hub as Record<string, unknown>) };
  change(hub);
  const file = join(fed.files.dir, `${name}.yaml`);
  await writeFile(
    file,
    stringify({ ...config, name, hub, dataDir: `./${name}-data`, ports: { client: -1 } }),
    { mode: 0o600 },
  );
  return file;
}

async function startVariant(file: string): Promise<{ leaf: LeafNode; events: LeafNodeEvent[] }> {
  const events: LeafNodeEvent[] = [];
  const leaf = await startLeafNode(await loadLeafConfig(file), {
    agent: false,
    onEvent: (e) => events.push(e),
  });
  extraLeaves.push(leaf);
  return { leaf, events };
}

/** A profile of alice's in the federation's folder, with `content` as its fields. */
async function writeProfile(content: Record<string, unknown>): Promise<string> {
  const path = join(fed.files.dir, `alice-${uniqueToken()}.profile.yaml`);
  await writeFile(path, stringify(content), { mode: 0o600 });
  return path;
}

async function hubLinks(): Promise<string[]> {
  return (await fetchLeafz(fed.hub.server.monitorUrl!)).leafs.map((l) => l.name);
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b"],
    mode: "operator",
    startLeaves: [],
    onHubEvent: (e) => hubEvents.push(e),
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "tls", autoRelease: true }),
  });
  for (const [i, tre] of ["a", "b"].entries()) {
    await writePatientsCsv(
      generatePatients(patientProfiles.north, 40 + i),
      join(fed.files.dir, `patients-${tre}.csv`),
    );
    await fed.startLeaf(tre);
  }
  await approveProject(fed, { project: "tls", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(extraLeaves.map((l) => l.stop()));
  await fed?.[Symbol.asyncDispose]();
});

async function countTask(): Promise<string> {
  const file = join(fed.files.dir, `count-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify({ kind: "count", dataset: "patients", groupBy: ["sex"] }));
  const r = await fed.cli(
    ["submit", "--project", "tls", "--tres", "a,b", file, "--wait", "--timeout-ms", "60000"],
    "alice",
  );
  expect(r.code, r.err.join("\n")).toBe(0);
  return r.out[0]!;
}

describe("TLS on every link of the federation", () => {
  it("runs a task end to end with the hub's client and leafnode ports speaking TLS only", async () => {
    const leafUrl = fed.hub.leafUrl.replace(/^nats-leaf:/, "tls:");
    const ca = join(fed.files.dir, "federation-ca.crt");
    for (const url of [fed.files.hubClientUrl, leafUrl]) {
      const probe = await probeTls(url, { caFile: ca });
      expect(probe.ok, JSON.stringify(probe)).toBe(true);
    }
    const taskId = await countTask();
    const view = await fed.cli(["status", taskId, "--json"], "alice");
    expect(JSON.parse(view.out.join("\n")).state).toBe("completed");
  });

  it("refuses a plaintext client on the TLS client port", async () => {
    const port = Number(new URL(fed.files.hubClientUrl).port);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = netConnect({ host: "127.0.0.1", port });
      let seen = "";
      socket.on("data", (chunk) => {
        seen += chunk.toString("latin1");
        if (seen.includes("\r\n") && !seen.includes("CONNECT"))
          socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
        if (/-ERR|PONG/.test(seen)) {
          socket.destroy();
          resolve(seen);
        }
      });
      socket.on("error", reject);
      socket.on("close", () => resolve(seen));
    });
    // The server offers nothing but TLS, never answers the plaintext CONNECT, and closes the connection.
    expect(answer).toMatch(/^INFO .*"tls_required":true/);
    expect(answer).not.toMatch(/PONG|\+OK/);
    // nats.js told not to use TLS says why it cannot.
    await expect(
      connect({ servers: fed.files.hubClientUrl.replace("tls:", "nats:"), tls: null, reconnect: false }),
    ).rejects.toThrow(/tls/i);
  });

  it("refuses, and says why, a leaf that pins another CA or dials a name the hub's certificate does not carry", async () => {
    const other = await createFederationCa({ name: "someone else's CA" });
    await writeFile(join(fed.files.dir, "other-ca.crt"), other.certPem);
    const otherCa = await startVariant(
      await leafVariant("a", "leaf-a-other-ca", (hub) => (hub.caFile = "./other-ca.crt")),
    );
    const port = new URL(fed.hub.leafUrl).port;
    const wrongName = await startVariant(
      await leafVariant("a", "leaf-a-wrong-name", (hub) => (hub.urls = [`tls://localhost:${port}`])),
    );
    for (const [variant, reason] of [
      [otherCa, /certificate|verify|self.signed/i],
      [wrongName, /altnames|does not match|localhost/i],
    ] as const) {
      await waitFor("the leaf's refusal of the hub's certificate", () =>
        variant.events.some((e) => e.type === "hub-tls-refused"),
      );
      const refusal = variant.events.find((e) => e.type === "hub-tls-refused");
      expect(refusal).toMatchObject({ type: "hub-tls-refused", reason: expect.stringMatching(reason) });
    }
    // Both servers run and retry, and neither links.
    const linked = await hubLinks();
    expect(linked).not.toContain("leaf-a-other-ca");
    expect(linked).not.toContain("leaf-a-wrong-name");
    for (const v of [otherCa, wrongName]) await v.leaf.stop();
  });

  it("refuses a non-loopback plaintext URL in leaf.yaml and in a profile, saying how to fix it", async () => {
    const leafFile = await leafVariant("b", "leaf-b-plain", (hub) => {
      hub.urls = ["nats-leaf://198.51.100.7:7422"];
      delete hub.caFile;
    });
    const leaf = await cli(["leaf", "start", "--config", leafFile]);
    expect(leaf.code, leaf.err).toBe(3);
    expect(leaf.err).toMatch(
      /hub\.urls\[0\].*nats-leaf:\/\/198\.51\.100\.7:7422 would send everything in plaintext.*tls:\/\/198\.51\.100\.7:7422.*hub\.caFile.*hub\.insecure: true/,
    );
    const profile = await readYaml(fed.files.profiles.alice!);
    const plainProfile = join(fed.files.dir, "alice-plain.profile.yaml");
    await writeFile(
      plainProfile,
      stringify({ ...profile, hub: "nats://198.51.100.7:4222", caFile: undefined }),
      {
        mode: 0o600,
      },
    );
    const status = await cli(["tres", "--profile", plainProfile]);
    expect(status.code, status.err).toBe(3);
    expect(status.err).toMatch(
      /hub.*nats:\/\/198\.51\.100\.7:4222 would send everything in plaintext.*`insecure: true`/,
    );
  });

  it("serves a leaf's client port over TLS to a reviewer off its machine, and refuses plaintext there", async () => {
    const store = new AdminStore(fed.files.adminDir!);
    const { readFile } = await import("node:fs/promises");
    const ca = {
      certPem: await readFile(store.path("tls", "ca.crt"), "utf8"),
      keyPem: await readFile(store.path("keys", "federation-ca.key"), "utf8"),
    };
    const leafCert = await issueCertificate(ca, {
      commonName: "leaf-a",
      hosts: ["127.0.0.1"],
      usage: "node",
    });
    await writeFile(join(fed.files.dir, "leaf-a-server.crt"), leafCert.certPem);
    await writeFile(join(fed.files.dir, "secrets", "leaf-a-server.key"), leafCert.keyPem, { mode: 0o600 });
    const file = await leafVariant("a", "leaf-a-tls-port", () => {});
    const config = await readYaml(file);
    await writeFile(
      file,
      stringify({
        ...config,
        tls: {
          certFile: "./leaf-a-server.crt",
          keyFile: "./secrets/leaf-a-server.key",
          caFile: "./federation-ca.crt",
        },
      }),
      { mode: 0o600 },
    );
    const { leaf } = await startVariant(file);
    expect(leaf.server.clientUrl).toMatch(/^tls:\/\//);
    const port = new URL(leaf.server.clientUrl).port;
    const reviewer = await readYaml(fed.files.profiles["reviewer-a-rita"]!);
    const over = async (profile: Record<string, unknown>) => {
      const path = join(fed.files.dir, `rita-${uniqueToken()}.profile.yaml`);
      await writeFile(path, stringify(profile), { mode: 0o600 });
      return connectProfile(await loadProfile(path));
    };
    const nc = await over({ ...reviewer, leaf: `tls://127.0.0.1:${port}`, caFile: "./federation-ca.crt" });
    expect(nc.info?.tls_required).toBe(true);
    await nc.close();
    await expect(over({ ...reviewer, leaf: `nats://127.0.0.1:${port}` })).rejects.toThrow(
      /tls|secure|certificate/i,
    );
    await leaf.stop();
    // Off loopback without TLS, leaf.yaml is refused before anything starts.
    const open = await leafVariant("a", "leaf-a-open", () => {});
    await writeFile(open, stringify({ ...(await readYaml(open)), host: "198.51.100.9" }), { mode: 0o600 });
    await expect(loadLeafConfig(open)).rejects.toThrow(
      /host.*198\.51\.100\.9 is not a loopback address.*`tls`.*`insecure: true`/,
    );
  });

  it("tells a researcher whose profile pins another CA, or dials the TLS port in plaintext, what to fix", async () => {
    const profile = await readYaml(fed.files.profiles.alice!);
    const other = await createFederationCa({ name: "not the federation's" });
    await writeFile(join(fed.files.dir, "wrong-ca.crt"), other.certPem);
    const wrongCa = await cli([
      "tres",
      "--profile",
      await writeProfile({ ...profile, caFile: "./wrong-ca.crt" }),
    ]);
    expect(wrongCa.code, wrongCa.err).toBe(5);
    expect(wrongCa.err).toMatch(/presented a TLS certificate this profile does not accept .*caFile/);
    const plain: Record<string, unknown> = {
      ...profile,
      hub: fed.files.hubClientUrl.replace("tls:", "nats:"),
    };
    delete plain.caFile;
    const plaintext = await cli(["tres", "--profile", await writeProfile(plain)]);
    expect(plaintext.code, plaintext.err).toBe(5);
    expect(plaintext.err).toMatch(/requires TLS/);
  });

  it("tells a researcher whose profile names the hub's leafnode port that it is not the client port, and which is", async () => {
    const profile = await readYaml(fed.files.profiles.alice!);
    const leafPortUrl = fed.hub.leafUrl.replace(/^nats-leaf:/, "tls:");
    const atLeafPort = await writeProfile({ ...profile, hub: leafPortUrl });
    const wrongPort = await cli(["tres", "--profile", atLeafPort]);
    expect(wrongPort.code, wrongPort.err).toBe(ExitCode.badInput);
    expect(wrongPort.err).toBe(
      `tremesh tres: ${leafPortUrl} looks like the hub's leafnode port, where TREs' leaf nodes link, not a client port: ` +
        "researchers and the federation admin connect to the hub's client port (hub.yaml `ports.client`, 4222 unless set); " +
        `check \`hub\` in ${atLeafPort} (the onboarding bundle's profile has the URL)`,
    );
  });

  it("refuses to start a hub whose certificate has expired, naming the file and the date", async () => {
    const store = new AdminStore(fed.files.adminDir!);
    const { readFile } = await import("node:fs/promises");
    const ca = {
      certPem: await readFile(store.path("tls", "ca.crt"), "utf8"),
      keyPem: await readFile(store.path("keys", "federation-ca.key"), "utf8"),
    };
    const expired = await issueCertificate(ca, {
      commonName: "hub",
      hosts: ["127.0.0.1"],
      usage: "node",
      validityDays: 2,
      now: new Date(Date.now() - 30 * 86_400_000),
    });
    const hubDir = store.path("hub");
    await writeFile(join(hubDir, "tls", "expired.crt"), expired.certPem);
    await writeFile(join(hubDir, "secrets", "expired.key"), expired.keyPem, { mode: 0o600 });
    const config = await readYaml(fed.files.hubConfig);
    const file = join(hubDir, "expired.yaml");
    await writeFile(
      file,
      stringify({
        ...config,
        tls: { ...(config.tls as object), certFile: "./tls/expired.crt", keyFile: "./secrets/expired.key" },
      }),
    );
    await expect(loadHubConfig(file)).rejects.toThrow(
      /tls\.certFile.*expired\.crt: the certificate expired on/,
    );
    const started = await cli(["hub", "start", "--config", file]);
    expect(started.code).toBe(3);
    expect(started.err).toMatch(/expired on/);
  });

  it("raises an alert naming both remote addresses when a copy of a TRE's creds links beside the real leaf", async () => {
    const copy = await startVariant(await leafVariant("b", "leaf-b-copy", () => {}));
    await waitFor(
      "the hub's duplicate-link alert for TRE b",
      () =>
        hubEvents.some(
          (e) => e.service === "links" && e.event.type === "duplicate-link" && e.event.tre === "b",
        ),
      { timeoutMs: 30_000 },
    );
    const alert = hubEvents.find(
      (e) => e.service === "links" && e.event.type === "duplicate-link" && e.event.tre === "b",
    );
    if (alert?.service !== "links" || alert.event.type !== "duplicate-link") throw new Error("no alert");
    expect(alert.event.remotes).toHaveLength(2);
    for (const remote of alert.event.remotes) expect(remote).toMatch(/^127\.0\.0\.1:\d+$/);
    // The federation admin finds it in the hub's audit log too, with both addresses.
    const remotes = [...alert.event.remotes].sort().join(", ");
    const nc = await fed.connect("admin");
    await waitFor("the duplicate link in the hub's audit log", async () =>
      (await auditRecords(jetstream(nc))).some(
        (r) => r.action === "tre.link.duplicate" && r.tre === "b" && r.details?.remotes === remotes,
      ),
    );
    await copy.leaf.stop();
  });

  it("puts a renewed hub certificate in force without dropping the federation, and loses nothing", async () => {
    const ca = join(fed.files.dir, "federation-ca.crt");
    const before = await probeTls(fed.files.hubClientUrl, { caFile: ca });
    if (!before.ok) throw new Error(before.reason);
    const renewed = await renewNodeCertificates(new AdminStore(fed.files.adminDir!), ["hub"]);
    const inForce = await fed.hub.reloadTls();
    expect(inForce.fingerprint256).toBe(renewed.hub!.fingerprint256);
    expect(inForce.fingerprint256).not.toBe(before.certificate.fingerprint256);
    for (const url of [fed.files.hubClientUrl, fed.hub.leafUrl.replace(/^nats-leaf:/, "tls:")]) {
      const after = await probeTls(url, { caFile: ca });
      expect(after.ok && after.certificate.fingerprint256).toBe(renewed.hub!.fingerprint256);
    }
    // The links made before the renewal stay up; a leaf that reconnects verifies the new certificate.
    expect((await hubLinks()).length).toBeGreaterThanOrEqual(2);
    await fed.stopLeaf("b");
    await fed.startLeaf("b");
    await countTask();
  });

  // Last: it restarts the hub with leaf client certificates required.
  it("with leaf client certificates required, links a TRE that presents one and refuses a copy of its creds alone", async () => {
    const store = new AdminStore(fed.files.adminDir!);
    const hubYaml = await readYaml(fed.files.hubConfig);
    await writeFile(
      fed.files.hubConfig,
      stringify({ ...hubYaml, tls: { ...(hubYaml.tls as object), leafClientCerts: true } }),
    );
    await fed.stopLeaf("a");
    await fed.stopLeaf("b");
    await fed.restartHub();
    const issued = await issueLeafCertificate(store, "a");
    await writeFile(join(fed.files.dir, "leaf-a.crt"), issued.certPem);
    await writeFile(join(fed.files.dir, "secrets", "leaf-a.key"), issued.keyPem, { mode: 0o600 });
    const withCert = await startVariant(
      await leafVariant("a", "leaf-a-mtls", (hub) => {
        hub.certFile = "./leaf-a.crt";
        hub.keyFile = "./secrets/leaf-a.key";
      }),
    );
    const credsOnly = await startVariant(await leafVariant("a", "leaf-a-creds-only", () => {}));
    await waitFor(
      "the leaf with its certificate to link",
      async () => (await hubLinks()).includes("leaf-a-mtls"),
      {
        timeoutMs: 30_000,
      },
    );
    await waitFor("the creds-only leaf's refusal", () =>
      credsOnly.events.some((e) => e.type === "hub-tls-refused"),
    );
    expect(credsOnly.events.find((e) => e.type === "hub-tls-refused")).toMatchObject({
      reason: expect.stringMatching(/certificate/i),
    });
    expect(await hubLinks()).not.toContain("leaf-a-creds-only");
    await withCert.leaf.stop();
    await credsOnly.leaf.stop();
  });
});
