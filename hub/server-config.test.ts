import { describe, expect, it } from "vitest";
import { ConfigModelError, randomPassword } from "../common/index.js";
import { subjects } from "../protocol/index.js";
import { type HubServerModel, hubServerConfig, hubStreamFlows } from "./server-config.js";

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

  it("exports each TRE's inbound subjects from FED to that TRE's account only", () => {
    expect(hubStreamFlows(["a", "north-1"])).toEqual([
      { from: "FED", to: "TRE_a", subject: subjects.treInbound("a") },
      { from: "FED", to: "TRE_north_1", subject: subjects.treInbound("north-1") },
    ]);
    const text = hubServerConfig(model());
    expect(text).toContain(
      `stream: "${subjects.treInbound("a")}"\n        accounts: [\n          "TRE_a"\n        ]`,
    );
    expect(text).toContain(`account: "FED"\n          subject: "${subjects.treInbound("north-1")}"`);
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
