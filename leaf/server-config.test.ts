import { describe, expect, it } from "vitest";
import { ConfigModelError, randomPassword } from "../common/index.js";
import { type LeafServerModel, leafLinkBoundary, leafServerConfig } from "./server-config.js";

function model(overrides: Partial<LeafServerModel> = {}): LeafServerModel {
  const cred = (user: string) => ({ user, password: randomPassword() });
  return {
    tre: "a",
    serverName: "leaf-a",
    storeDir: "/var/lib/tremesh/leaf",
    system: cred("sys"),
    dmz: { users: [cred("agent-dmz")] },
    ctrl: { users: [cred("agent-ctrl")] },
    hub: { urls: ["nats-leaf://hub.example.org:7422"], credential: cred("leaf-a") },
    ...overrides,
  };
}

describe("leafServerConfig", () => {
  it("dials the hub from the DMZ account only, with the TRE's credential in the URL", () => {
    const password = randomPassword();
    const text = leafServerConfig(
      model({
        hub: { urls: ["nats-leaf://hub.example.org:7422"], credential: { user: "leaf-a", password } },
      }),
    );
    expect(text).toContain(`"nats-leaf://leaf-a:${password}@hub.example.org:7422"`);
    expect(text).not.toContain("credentials:");
    expect(text.match(/^\s+account: /gm)).toHaveLength(1);
    expect(text).toContain('account: "DMZ"');
    expect(text).toMatch(/domain: "a"/);
  });

  it("percent-encodes credential characters that would break the URL", () => {
    const text = leafServerConfig(
      model({
        hub: { urls: ["nats-leaf://h:1"], credential: { user: "leaf-a", password: "p@ss:w/rd#0123456789" } },
      }),
    );
    expect(text).toContain('"nats-leaf://leaf-a:p%40ss%3Aw%2Frd%230123456789@h:1"');
  });

  it("lets one JetStream call in from the hub (consumer create on OUTBOX) and refuses the rest of its domain's API", () => {
    expect(leafLinkBoundary("north-1")).toEqual({
      denyImports: [
        "$JS.north-1.API.>",
        "$JS.ACK.>",
        "$JS.FC.INBOX.>",
        "tremesh.tre.north-1.out.>",
        "$SYS.>",
      ],
      mappings: {
        "tremesh.tre.north-1.jsapi.CONSUMER.CREATE.OUTBOX": "$JS.API.CONSUMER.CREATE.OUTBOX",
      },
    });
    const text = leafServerConfig(model());
    expect(text).toContain(
      'deny_imports: [\n        "$JS.a.API.>"\n        "$JS.ACK.>"\n        "$JS.FC.INBOX.>"\n        "tremesh.tre.a.out.>"\n        "$SYS.>"\n      ]',
    );
    // The mapping lives in DMZ, the account bound to the link; CTRL has none.
    const dmz = text.slice(text.indexOf("  DMZ: {"), text.indexOf("  CTRL: {"));
    expect(dmz).toContain('"tremesh.tre.a.jsapi.CONSUMER.CREATE.OUTBOX": "$JS.API.CONSUMER.CREATE.OUTBOX"');
    expect(text.slice(text.indexOf("  CTRL: {"), text.indexOf("leafnodes: {"))).not.toMatch(
      /mappings|exports|imports/,
    );
  });

  it("dials an operator-mode hub with a creds file, keeping the URLs plain", () => {
    const text = leafServerConfig(
      model({
        hub: {
          urls: ["nats-leaf://hub.example.org:7422", "tls://hub2.example.org:7422"],
          credential: { credsFile: "/etc/tremesh/leaf-a.creds" },
        },
      }),
    );
    const remote = text.slice(text.indexOf("remotes: ["));
    expect(remote).toContain(
      'urls: [\n        "nats-leaf://hub.example.org:7422"\n        "tls://hub2.example.org:7422"\n      ]',
    );
    expect(remote).toContain('credentials: "/etc/tremesh/leaf-a.creds"');
    expect(remote).toContain('account: "DMZ"');
    expect(remote).not.toMatch(/@hub/);
  });

  it("refuses a relative creds file path, which the server would resolve from its own working folder", () => {
    expect(() =>
      leafServerConfig(
        model({ hub: { urls: ["nats-leaf://h:1"], credential: { credsFile: "leaf-a.creds" } } }),
      ),
    ).toThrow(new ConfigModelError("hub.credential.credsFile", "must be an absolute path"));
  });

  it("refuses a TRE named like the hub's JetStream domain", () => {
    expect(() => leafServerConfig(model({ tre: "hub" }))).toThrow(
      new ConfigModelError("tre", '"hub" is the hub\'s JetStream domain'),
    );
  });

  it("refuses a hub URL that already carries credentials", () => {
    expect(() =>
      leafServerConfig(model({ hub: { urls: ["nats-leaf://u:p@h:1"], credential: model().hub.credential } })),
    ).toThrow(new ConfigModelError("hub.urls[0]", "must not carry credentials; put them in hub.credential"));
  });
});
