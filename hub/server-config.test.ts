import { describe, expect, it } from "vitest";
import { ConfigModelError, randomPassword } from "../common/index.js";
import { streams, subjects } from "../protocol/index.js";
import { hubAccountFlows } from "./account-flows.js";
import { type HubServerModel, hubServerConfig } from "./server-config.js";

function model(overrides: Partial<HubServerModel> = {}): HubServerModel {
  const cred = (user: string) => ({ user, password: randomPassword() });
  return {
    serverName: "hub-1",
    storeDir: "/var/lib/tremesh/hub",
    system: cred("sys"),
    fed: { users: [cred("fed")] },
    tres: [
      { name: "a", leaf: cred("leaf-a") },
      { name: "north-1", leaf: cred("leaf-north-1"), users: [cred("admin-north-1")] },
    ],
    ...overrides,
  };
}

describe("hubServerConfig", () => {
  it("routes a cluster node to every node with the route user's credentials, and advertises no route", () => {
    const credential = { user: "route", password: "p@ss word/with:odd" };
    const text = hubServerConfig(
      model({
        cluster: {
          name: "tremesh-hub",
          port: 6222,
          routes: ["nats-route://hub-1:6222", "nats-route://hub-2:6222"],
          credential,
        },
      }),
    );
    expect(text).toContain('"nats-route://route:p%40ss%20word%2Fwith%3Aodd@hub-2:6222"');
    expect(text).toMatch(/no_advertise: true/);
    expect(text).toMatch(/port: 6222/);
    expect(() =>
      hubServerConfig(model({ cluster: { name: "c", port: -1, routes: ["nats-route://h:1"], credential } })),
    ).toThrow(/cluster\.port/);
  });

  it("binds each leaf credential to its own TRE account and dials nowhere", () => {
    const m = model();
    const text = hubServerConfig(m);
    expect(text).toContain(
      `user: "leaf-a"\n        password: "${m.tres[0]!.leaf.password}"\n        account: "TRE_a"`,
    );
    expect(text).toContain('account: "TRE_north_1"');
    expect(text).toMatch(/domain: "hub"/);
    expect(text).not.toMatch(/remotes|routes|gateway|cluster|no_auth_user/);
  });

  it("declares every cross-account flow between FED and one TRE account, granted to FED only", () => {
    const flows = hubAccountFlows(["a", "north-1"]);
    expect(flows.every((f) => f.importer === "FED")).toBe(true);
    expect(new Set(flows.map((f) => f.exporter))).toEqual(new Set(["TRE_a", "TRE_north_1"]));
    expect(flows.filter((f) => f.exporter === "TRE_a").map(({ purpose: _, ...f }) => f)).toEqual([
      { kind: "service", exporter: "TRE_a", importer: "FED", subject: subjects.treInbound("a") },
      { kind: "stream", exporter: "TRE_a", importer: "FED", subject: subjects.heartbeat("a") },
      {
        kind: "service",
        exporter: "TRE_a",
        importer: "FED",
        subject: "$JS.API.CONSUMER.CREATE.RESULTS_a.>",
        localSubject: "$JS.TRE-a.API.CONSUMER.CREATE.RESULTS_a.>",
      },
      { kind: "service", exporter: "TRE_a", importer: "FED", subject: "$JS.FC.RESULTS_a.>" },
      { kind: "stream", exporter: "TRE_a", importer: "FED", subject: "tremesh.fed.src.a.>" },
    ]);
    // Per TRE, every subject names that TRE (so FED's imports from several TRE accounts never overlap).
    for (const tre of ["a", "north-1"]) {
      const mine = flows.filter((f) => f.exporter === (tre === "a" ? "TRE_a" : "TRE_north_1"));
      expect(mine.every((f) => f.subject.includes(tre) && (f.localSubject ?? tre).includes(tre))).toBe(true);
    }
    expect(new Set(flows.map((f) => f.localSubject ?? f.subject)).size).toBe(flows.length);
  });

  it("renders tasks as a service FED imports from the TRE's account, so a JetStream publish gets its PubAck", () => {
    const text = hubServerConfig(model());
    expect(text).toContain(
      `service: "${subjects.treInbound("a")}"\n        accounts: [\n          "FED"\n        ]`,
    );
    expect(text).toContain(
      `service: {\n          account: "TRE_a"\n          subject: "${subjects.treInbound("a")}"`,
    );
    expect(text).toContain(
      `subject: "$JS.API.CONSUMER.CREATE.${streams.results("north-1")}.>"\n        }\n        to: "$JS.TRE-north-1.API.CONSUMER.CREATE.${streams.results("north-1")}.>"`,
    );
    // FED exports only the three researcher services, to RESEARCH: no TRE account imports anything.
    const tre = text.slice(text.indexOf("  TRE_a: {"), text.indexOf("leafnodes: {"));
    expect(tre).not.toContain("imports");
    const grantedTo = [...text.matchAll(/accounts: \[\n\s*"([^"]+)"\n\s*\]/g)].map((m) => m[1]);
    expect(grantedTo.sort()).toEqual([...Array(10).fill("FED"), ...Array(3).fill("RESEARCH")]);
  });

  it("refuses a TRE named like the hub's JetStream domain", () => {
    const cred = { user: "leaf-hub", password: randomPassword() };
    expect(() => hubServerConfig(model({ tres: [{ name: "hub", leaf: cred }] }))).toThrow(
      new ConfigModelError("tres[0].name", '"hub" is the hub\'s JetStream domain'),
    );
  });

  it("refuses a bad TRE name, a duplicate TRE and a user name used twice", () => {
    const cred = { user: "x", password: randomPassword() };
    expect(() => hubServerConfig(model({ tres: [{ name: "A", leaf: cred }] }))).toThrow(
      new ConfigModelError("tres[0].name", 'not a valid TRE name: "A"'),
    );
    expect(() =>
      hubServerConfig(
        model({
          tres: [
            { name: "a", leaf: cred },
            { name: "a", leaf: { ...cred, user: "y" } },
          ],
        }),
      ),
    ).toThrow(/tres\[1\]\.name.*twice/);
    expect(() =>
      hubServerConfig(model({ fed: { users: [{ user: "sys", password: randomPassword() }] } })),
    ).toThrow(/fed\.users\[0\]\.user.*also used by `system`/);
  });

  it("refuses a hub without TREs, whose empty leaf user list nats-server would treat as open", () => {
    expect(() => hubServerConfig(model({ tres: [] }))).toThrow(/`tres`: needs at least one TRE/);
  });

  it("refuses a weak password without echoing it", () => {
    const error = (() => {
      try {
        hubServerConfig(model({ fed: { users: [{ user: "fed", password: "short-secret" }] } }));
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigModelError);
    expect(error?.message).not.toContain("short-secret");
  });
});

describe("hubServerConfig with TLS", () => {
  const files = {
    certFile: "/etc/tremesh/hub/tls/hub-1.crt",
    keyFile: "/etc/tremesh/hub/secrets/hub-1.key",
    caFile: "/etc/tremesh/hub/tls/ca.crt",
    certificate: {
      subject: "CN=hub-1",
      dnsNames: ["hub-1.example.org"],
      ipAddresses: [],
      notBefore: new Date(0),
      notAfter: new Date(0),
      fingerprint256: "",
    },
  };
  const tls = { files, minVersion: "1.3" as const, leafClientCerts: false };

  it("puts TLS on the client and leafnode listeners and mutual TLS on the routes, with a handshake timeout", () => {
    const text = hubServerConfig(
      model({
        tls,
        cluster: {
          name: "tremesh-hub",
          port: 6222,
          routes: ["nats-route://hub-1:6222"],
          credential: { user: "route", password: "secret-route-password" },
        },
      }),
    );
    // Top level (client port), leafnodes and cluster each carry the certificate; only the routes verify the peer.
    expect(text.match(/cert_file: "\/etc\/tremesh\/hub\/tls\/hub-1\.crt"/g)).toHaveLength(3);
    expect(text.match(/verify: true/g)).toHaveLength(1);
    expect(text).toMatch(/cluster: \{[\s\S]*tls: \{[\s\S]*verify: true/);
    expect(text.match(/min_version: "1\.3"/g)).toHaveLength(3);
    expect(text.match(/timeout: 5/g)).toHaveLength(3);
    // The handshake comes first: on the client port with a fallback for clients that read INFO first, on the
    // leafnode port always (every leaf is tremesh's own).
    expect(text).toMatch(/^tls: \{[^}]*handshake_first: "500ms"/m);
    expect(text).toMatch(/leafnodes: \{[\s\S]*handshake_first: true/);
    // Monitoring stays on loopback, in plain HTTP.
    expect(text).toMatch(/http: "127\.0\.0\.1:-1"/);
  });

  it("asks leaves for a certificate only when hub.yaml says so", () => {
    const text = hubServerConfig(model({ tls: { ...tls, leafClientCerts: true } }));
    expect(text).toMatch(/leafnodes: \{[\s\S]*tls: \{[\s\S]*verify: true/);
  });

  it("serves monitoring off loopback only over HTTPS, and never without TLS", () => {
    expect(hubServerConfig(model({ tls, monitorHost: "198.51.100.1", monitorPort: 8222 }))).toMatch(
      /https: "198\.51\.100\.1:8222"/,
    );
    expect(() => hubServerConfig(model({ monitorHost: "198.51.100.1" }))).toThrow(/monitorHost.*needs `tls`/);
  });
});
