import { describe, expect, it } from "vitest";
import { ConfigModelError, randomPassword } from "../common/index.js";
import { type LeafServerModel, leafServerConfig } from "./server-config.js";

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
    const m = model();
    const text = leafServerConfig(m);
    expect(text).toContain(`"nats-leaf://leaf-a:${m.hub.credential.password}@hub.example.org:7422"`);
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

  it("refuses a hub URL that already carries credentials", () => {
    expect(() =>
      leafServerConfig(model({ hub: { urls: ["nats-leaf://u:p@h:1"], credential: model().hub.credential } })),
    ).toThrow(new ConfigModelError("hub.urls[0]", "must not carry credentials; put them in hub.credential"));
  });
});
