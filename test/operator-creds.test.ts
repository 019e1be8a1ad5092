/**
 * Creds files on a real hub in operator mode (JWTs, an in-memory resolver): a TRE's leaf dials the hub with
 * `hub.credsFile` and lands in its account, a CLI profile logs in with `credsFile`, a revoked or unknown user is
 * refused with the refused exit code, and leaf.yaml and profiles insist on exactly one login form.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type ConnectionType,
  encodeAccount,
  encodeOperator,
  encodeUser,
  fmtCreds,
  type OperatorLimits,
} from "@nats-io/jwt";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { CliError, ExitCode } from "../cli/exit-codes.js";
import { connectProfile, loadProfile } from "../cli/profile.js";
import {
  ConfigFileError,
  fetchLeafz,
  type NatsServerHandle,
  startNatsServer,
  toNatsConf,
  waitFor,
} from "../common/index.js";
import { loadLeafConfig, startLeafNode } from "../leaf/index.js";
import { subjects } from "../protocol/index.js";
import { collect } from "./harness/collect.js";
import { uniqueToken } from "./harness/unique.js";

const UNLIMITED: OperatorLimits = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
};

let dir: string;
let hub: NatsServerHandle;
const accountA = createAccount();
/** An account the hub's resolver has never heard of. */
const strangerAccount = createAccount();
const revokedUser = createUser();
/** The revoked user's creds, issued before the revocation (a JWT issued after it would be valid again). */
let revokedCreds: string;
let hubClient: NatsConnection;

/** Writes `user`'s creds (a JWT issued by `issuer`) to an owner-only file and returns its name in `dir`. */
async function writeCreds(
  name: string,
  options: { user?: KeyPair; issuer?: KeyPair; types?: ConnectionType[] } = {},
): Promise<string> {
  const user = options.user ?? createUser();
  const jwt = await encodeUser(
    name,
    user,
    options.issuer ?? accountA,
    options.types ? { allowed_connection_types: options.types } : {},
  );
  const file = `${name}-${uniqueToken()}.creds`;
  await writeFile(join(dir, file), fmtCreds(jwt, user), { mode: 0o600 });
  return file;
}

/** Writes a YAML file into `dir` and returns its path. */
async function writeYaml(value: unknown): Promise<string> {
  const path = join(dir, `config-${uniqueToken()}.yaml`);
  await writeFile(path, stringify(value));
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-operator-"));
  const operator = createOperator();
  const system = createAccount();
  // The revoked user's JWT is issued first: revocation covers JWTs issued up to the revocation time.
  revokedCreds = await writeCreds("revoked", { user: revokedUser });
  const now = Math.floor(Date.now() / 1000);
  const signed = { signer: operator };
  const configText = toNatsConf({
    server_name: `hub-${uniqueToken()}`,
    host: "127.0.0.1",
    port: -1,
    http_port: -1,
    operator: await encodeOperator("tremesh-test", operator, { system_account: system.getPublicKey() }),
    system_account: system.getPublicKey(),
    resolver: "MEMORY",
    resolver_preload: {
      [system.getPublicKey()]: await encodeAccount("SYS", system, {}, signed),
      [accountA.getPublicKey()]: await encodeAccount(
        "A",
        accountA,
        { limits: UNLIMITED, revocations: { [revokedUser.getPublicKey()]: now } },
        signed,
      ),
    },
    leafnodes: { host: "127.0.0.1", port: -1 },
    jetstream: { domain: "hub", store_dir: join(dir, "hub", "jetstream") },
  });
  hub = await startNatsServer({ name: "hub", configText, dir: join(dir, "hub") });
  const clientFile = await writeCreds("hub-client", { types: ["STANDARD"] });
  hubClient = await connect({
    servers: hub.clientUrl,
    authenticator: credsAuthenticator(new Uint8Array(await readFile(join(dir, clientFile)))),
  });
});

afterAll(async () => {
  await hubClient?.close();
  await hub?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A minimal leaf.yaml for TRE `tre`, with `hub` fields on top of the URLs and pinned key. */
async function leafYaml(tre: string, hubFields: Record<string, unknown>): Promise<string> {
  const seedFile = `tre-${tre}.seed`;
  await writeFile(join(dir, seedFile), createUser().getSeed(), { mode: 0o600 });
  return writeYaml({
    tre,
    dataDir: `./leaf-${tre}-data`,
    signingKeyFile: `./${seedFile}`,
    hub: { urls: [hub.leafUrl], publicKey: createUser().getPublicKey(), ...hubFields },
  });
}

describe("a TRE leaf on an operator-mode hub", () => {
  it("dials in with hub.credsFile, lands in the TRE's account, and its DMZ traffic reaches the hub", async () => {
    const tre = `t${uniqueToken()}`;
    const credsFile = await writeCreds(`leaf-${tre}`, { types: ["LEAFNODE"] });
    const config = await loadLeafConfig(await leafYaml(tre, { credsFile: `./${credsFile}` }));
    expect(config.hub.credential).toEqual({ credsFile: join(dir, credsFile) });

    await using leaf = await startLeafNode(config, { agent: false });
    const link = await waitFor("the leaf link on the hub", async () => {
      const leafz = await fetchLeafz(hub.monitorUrl ?? "");
      return leafz.leafs.find((l) => l.name === config.name);
    });
    expect(link.account).toBe(accountA.getPublicKey());
    expect(link.is_spoke).toBe(false);
    expect((await fetchLeafz(hub.monitorUrl ?? "")).leafs).toHaveLength(1);
    // The generated server config holds the path, never the JWT or the seed.
    const serverConfig = await readFile(leaf.server.configFile, "utf8");
    expect(serverConfig).toContain(`credentials: ${JSON.stringify(join(dir, credsFile))}`);
    expect(serverConfig).not.toMatch(/eyJ|(?<![A-Z2-7])S[AOUNCX][A-Z2-7]{56}(?![A-Z2-7])/);

    const subject = `tremesh.test.${tre}.hello`;
    const seen = collect(hubClient, subject);
    await hubClient.flush();
    await waitFor("the DMZ's message on the hub", async () => {
      leaf.dmz.publish(subject, "from the TRE");
      await leaf.dmz.flush();
      return seen.messages.length > 0;
    });
    expect(seen.messages[0]?.string()).toBe("from the TRE");
    seen.subscription.unsubscribe();
  });
});

describe("a CLI profile with credsFile", () => {
  it("logs in with the creds, named after the JWT, on the researcher's own inbox", async () => {
    const profile = await loadProfile(
      await writeYaml({ hub: hub.clientUrl, credsFile: `./${await writeCreds("alice")}` }),
    );
    expect(profile.user).toBe("alice");
    expect(profile.auth.type).toBe("creds");
    const nc = await connectProfile(profile);
    try {
      const subject = `tremesh.test.${uniqueToken()}`;
      const replies: string[] = [];
      const service = hubClient.subscribe(`${subject}.ping`, {
        callback: (_error, msg) => {
          replies.push(msg.reply ?? "");
          msg.respond("pong");
        },
      });
      const heard = collect(nc, `${subject}.news`);
      await Promise.all([hubClient.flush(), nc.flush()]);
      expect((await nc.request(`${subject}.ping`, "ping", { timeout: 5_000 })).string()).toBe("pong");
      expect(replies[0]?.startsWith(`${subjects.researcherInbox("alice")}.`)).toBe(true);
      hubClient.publish(`${subject}.news`, "hello alice");
      await waitFor("alice's subscription to hear the hub", () => heard.messages.length > 0);
      service.unsubscribe();
    } finally {
      await nc.close();
    }
  });

  it.each([
    ["a revoked user", async () => revokedCreds],
    [
      "a user of an account the hub does not know",
      async () => writeCreds("bob", { issuer: strangerAccount }),
    ],
  ])("refuses %s with the refused exit code", async (_what, creds) => {
    const profile = await loadProfile(
      await writeYaml({ hub: hub.clientUrl, credsFile: `./${await creds()}` }),
    );
    const error = await connectProfile(profile).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(ExitCode.refused);
    expect((error as CliError).message).toMatch(/refused/);
  });

  it("says unavailable, not refused, when nothing answers", async () => {
    const profile = await loadProfile(
      await writeYaml({ hub: "nats://127.0.0.1:1", credsFile: `./${await writeCreds("carol")}` }),
    );
    const error = await connectProfile(profile, 1_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as CliError).exitCode).toBe(ExitCode.unavailable);
  });
});

describe("exactly one login form", () => {
  async function leafError(
    hubFields: Record<string, unknown>,
    tre = `t${uniqueToken()}`,
  ): Promise<ConfigFileError> {
    const error = await loadLeafConfig(await leafYaml(tre, hubFields)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigFileError);
    return error as ConfigFileError;
  }

  async function profileError(fields: Record<string, unknown>): Promise<CliError> {
    const error = await loadProfile(await writeYaml({ hub: hub.clientUrl, ...fields })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(ExitCode.badInput);
    return error as CliError;
  }

  it("leaf.yaml: refuses both forms, neither, half of the password form, and creds a leaf may not use", async () => {
    await writeFile(join(dir, "leaf.password"), "a-password-long-enough-0123", { mode: 0o600 });
    const leafCreds = `./${await writeCreds("leaf-x", { types: ["LEAFNODE"] })}`;
    const both = await leafError({ user: "leaf-x", passwordFile: "./leaf.password", credsFile: leafCreds });
    expect(both.field).toBe("hub.credsFile");
    expect(both.message).toMatch(
      /give either `hub.credsFile` or `hub.user` with `hub.passwordFile`, not both$/,
    );
    const neither = await leafError({});
    expect(neither.field).toBe("hub.user");
    expect(neither.message).toMatch(
      /hub.user: is required: give `hub.user` with `hub.passwordFile`, or `hub.credsFile`$/,
    );
    expect((await leafError({ user: "leaf-x" })).field).toBe("hub.passwordFile");
    expect((await leafError({ passwordFile: "./leaf.password" })).field).toBe("hub.user");

    const clientOnly = await writeCreds("leaf-y", { types: ["STANDARD"] });
    const wrongType = await leafError({ credsFile: `./${clientOnly}` });
    expect(wrongType.field).toBe("hub.credsFile");
    expect(wrongType.message).toContain(
      `${join(dir, clientOnly)}: user "leaf-y" may not connect as a leaf node (its JWT allows connection types STANDARD; the link needs LEAFNODE)`,
    );
  });

  it("leaf.yaml: refuses another TRE's hub-link creds, naming the file and whose they are", async () => {
    const tre = `t${uniqueToken()}`;
    const others = await writeCreds("leaf-south", { types: ["LEAFNODE"] });
    const error = await leafError({ credsFile: `./${others}` }, tre);
    expect(error.field).toBe("hub.credsFile");
    expect(error.message).toContain(
      `${join(dir, others)} holds TRE south's link to the hub (user leaf-south), not TRE ${tre}'s: use the hub-link.creds of ${tre}'s onboarding bundle`,
    );
  });

  it("leaf.yaml: keeps the user/password form working as before", async () => {
    await writeFile(join(dir, "leaf-ok.password"), "another-password-long-enough", { mode: 0o600 });
    const config = await loadLeafConfig(
      await leafYaml(`t${uniqueToken()}`, { user: "leaf-ok", passwordFile: "./leaf-ok.password" }),
    );
    expect(config.hub.credential).toEqual({ user: "leaf-ok", password: "another-password-long-enough" });
  });

  it("profiles: refuse both forms and neither, and creds that may only make leaf links", async () => {
    await writeFile(join(dir, "alice.password"), "alice-password-long-enough", { mode: 0o600 });
    const creds = `./${await writeCreds("alice")}`;
    const both = await profileError({ user: "alice", passwordFile: "./alice.password", credsFile: creds });
    expect(both.message).toMatch(
      /: credsFile: give either `credsFile` or `user` with `passwordFile`, not both$/,
    );
    expect((await profileError({})).message).toMatch(
      /: user: is required: give `user` with `passwordFile`, or `credsFile`$/,
    );
    expect((await profileError({ user: "alice" })).message).toMatch(
      /: passwordFile: is required with `user`/,
    );
    const leafOnly = await writeCreds("leaf-z", { types: ["LEAFNODE"] });
    expect((await profileError({ credsFile: `./${leafOnly}` })).message).toMatch(
      /: credsFile: .*: user "leaf-z" may not connect as a client \(its JWT allows connection types LEAFNODE; this needs STANDARD\)$/,
    );

    const password = await loadProfile(
      await writeYaml({ hub: hub.clientUrl, user: "alice", passwordFile: "./alice.password" }),
    );
    expect(password.auth).toEqual({ type: "password", password: "alice-password-long-enough" });
    const named = await loadProfile(
      await writeYaml({ hub: hub.clientUrl, user: "alice2", credsFile: creds }),
    );
    expect(named.user).toBe("alice2");
  });
});
