import { beforeAll, describe, expect, it } from "vitest";
import { ConfigModelError } from "../common/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { operatorJwt, systemAccountJwt } from "./operator-claims.js";
import { type HubOperatorServerModel, hubOperatorServerConfig } from "./operator-server-config.js";

describe("hubOperatorServerConfig", () => {
  const operator = generateKeyPair("operator");
  const sys = generateKeyPair("account");
  const other = generateKeyPair("account");
  let base: HubOperatorServerModel;
  beforeAll(async () => {
    base = {
      serverName: "hub",
      storeDir: "/var/lib/tremesh/hub/jetstream",
      operatorJwt: await operatorJwt("tremesh", operator.seed, sys.publicKey),
      systemAccount: sys.publicKey,
      resolverDir: "/var/lib/tremesh/hub/resolver",
      preload: { [sys.publicKey]: await systemAccountJwt(operator.seed, sys.publicKey) },
    };
  });

  it("trusts the operator, resolves accounts in a full resolver and lets no leaf in without a user JWT", () => {
    const text = hubOperatorServerConfig(base);
    expect(text).toContain(`operator: "${base.operatorJwt}"`);
    expect(text).toContain(`system_account: "${sys.publicKey}"`);
    expect(text).toMatch(
      /resolver: \{\n\s+type: "full"\n\s+dir: "\/var\/lib\/tremesh\/hub\/resolver"\n\s+allow_delete: false/,
    );
    expect(text).toContain(`${sys.publicKey}: "${base.preload[sys.publicKey]}"`);
    expect(text).toMatch(/domain: "hub"/);
    const leafnodes = text.slice(text.indexOf("leafnodes: {"));
    expect(leafnodes).not.toMatch(/authorization|users|remotes/);
    expect(text).not.toMatch(/accounts: \{|password|no_auth_user|routes|gateway/);
  });

  it("refuses a system account the operator JWT does not name", () => {
    expect(() => hubOperatorServerConfig({ ...base, systemAccount: other.publicKey })).toThrow(
      /`systemAccount`: .* is not the operator JWT's system account/,
    );
  });

  it("refuses a preload without the system account, keyed by another account, or not issued by the operator", async () => {
    expect(() => hubOperatorServerConfig({ ...base, preload: {} })).toThrow(
      new ConfigModelError("preload", "needs the system account's JWT"),
    );
    const otherJwt = await systemAccountJwt(operator.seed, other.publicKey);
    expect(() =>
      hubOperatorServerConfig({ ...base, preload: { ...base.preload, [sys.publicKey]: otherJwt } }),
    ).toThrow(/`preload\.A\w+`: holds the JWT of account/);
    const stranger = generateKeyPair("operator");
    const foreign = await systemAccountJwt(stranger.seed, other.publicKey);
    expect(() =>
      hubOperatorServerConfig({ ...base, preload: { ...base.preload, [other.publicKey]: foreign } }),
    ).toThrow(/`preload\.A\w+`: is an account JWT not issued by the operator/);
  });

  it("refuses an operator JWT that is an account JWT, or not a JWT", () => {
    expect(() => hubOperatorServerConfig({ ...base, operatorJwt: base.preload[sys.publicKey]! })).toThrow(
      /`operatorJwt`: is an account JWT, not an operator JWT/,
    );
    expect(() => hubOperatorServerConfig({ ...base, operatorJwt: "not.a.jwt" })).toThrow(
      /`operatorJwt`: is not a NATS JWT whose signature verifies/,
    );
  });
});
