/**
 * The hub in operator mode, against a real nats-server: the operator, its accounts and every user's creds are
 * made here with the operator-claims functions (as `tremesh admin` makes them), written as hub.yaml expects, and
 * the hub is started the one way, `startHubNode(loadHubConfig(file))`. Then: what a FED user sees, a leaf without
 * credentials, a TRE joining and leaving through the registry while the hub runs, and account JWTs pushed to the
 * resolver taking effect without a restart (and surviving one).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ConfigFileError, fetchLeafz, startNatsServer, toNatsConf, waitFor } from "../common/index.js";
import {
  fedAccountJwt,
  type HubNode,
  type HubNodeEvent,
  loadHubConfig,
  newUserCreds,
  operatorJwt,
  Registry,
  researchAccountJwt,
  researcherPermissions,
  startHubNode,
  systemAccountJwt,
  treAccountJwt,
  treOpsPermissions,
} from "../hub/index.js";
import { generateKeyPair, streams, subjects } from "../protocol/index.js";

type KeyPair = ReturnType<typeof generateKeyPair>;

/** Everything `tremesh admin` would hold for one federation, and the hub folder it would write. */
interface Federation {
  dir: string;
  hubFile: string;
  accountsDir: string;
  treCredsDir: string;
  keys: { operator: KeyPair; sys: KeyPair; fed: KeyPair; research: KeyPair };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The next whole second: JWTs made after it have a later `iat` than any made before this call. */
async function nextSecond(): Promise<void> {
  const start = nowSeconds();
  await waitFor("the next second", () => nowSeconds() > start, { timeoutMs: 2_000, intervalMs: 20 });
}

async function writeSecret(path: string, content: string | Uint8Array): Promise<void> {
  await writeFile(path, content, { mode: 0o600 });
}

/** An operator, SYS, FED (importing from no TRE yet) and RESEARCH, the hub's creds and hub.yaml. */
async function writeFederationFiles(): Promise<Federation> {
  const dir = await mkdtemp(join(tmpdir(), "tremesh-hub-operator-"));
  const keys = {
    operator: generateKeyPair("operator"),
    sys: generateKeyPair("account"),
    fed: generateKeyPair("account"),
    research: generateKeyPair("account"),
  };
  const { operator, sys, fed, research } = keys;
  const accountsDir = join(dir, "accounts");
  const treCredsDir = join(dir, "hub", "tre-creds");
  await mkdir(accountsDir);
  await mkdir(treCredsDir, { recursive: true, mode: 0o700 });
  await mkdir(join(dir, "hub", "secrets"), { mode: 0o700 });
  await writeFile(
    join(dir, "operator.jwt"),
    `${await operatorJwt("tremesh-test", operator.seed, sys.publicKey)}\n`,
  );
  await writeFile(join(accountsDir, "SYS.jwt"), await systemAccountJwt(operator.seed, sys.publicKey));
  await writeFile(
    join(accountsDir, "FED.jwt"),
    await fedAccountJwt(operator.seed, { account: fed.seed, research: research.publicKey, tres: [] }),
  );
  await writeFile(
    join(accountsDir, "RESEARCH.jwt"),
    await researchAccountJwt(operator.seed, { account: research.publicKey, fed: fed.seed }),
  );
  const services = await newUserCreds({ name: "hub-services", account: fed.seed, connection: "client" });
  await writeSecret(join(dir, "hub", "secrets", "services.creds"), services.creds);
  await writeSecret(join(dir, "hub", "secrets", "hub.seed"), generateKeyPair("user").seed);
  const hubFile = join(dir, "hub", "hub.yaml");
  await writeFile(
    hubFile,
    stringify({
      name: "hub-op",
      host: "127.0.0.1",
      ports: { client: -1, leaf: -1, monitor: -1 },
      dataDir: "./data",
      signingKeyFile: "./secrets/hub.seed",
      operator: {
        jwtFile: "../operator.jwt",
        accountsDir: "../accounts",
        servicesCredsFile: "./secrets/services.creds",
        treCredsDir: "./tre-creds",
      },
    }),
  );
  return { dir, hubFile, accountsDir, treCredsDir, keys };
}

/** `$SYS.REQ.CLAIMS.UPDATE` from a SYS user: the resolver stores the JWT and applies it at once. */
async function pushClaims(sys: NatsConnection, jwt: string): Promise<void> {
  const reply = await sys.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: 5_000 });
  const body = reply.json<{ data?: { code: number; message: string }; error?: { description: string } }>();
  expect(body.error).toBeUndefined();
  expect(body.data?.code).toBe(200);
}

describe("hub in operator mode", () => {
  let fed: Federation;
  let hub: HubNode;
  const events: HubNodeEvent[] = [];
  const connections: NatsConnection[] = [];
  const treA = generateKeyPair("account");
  const treASigning = generateKeyPair("user");

  const start = async () =>
    startHubNode(await loadHubConfig(fed.hubFile), {
      onEvent: (e) => events.push(e),
      treRetryIntervalMs: 300,
      sourceCheckIntervalMs: 1_000,
    });
  const client = async (creds: Uint8Array, options: { reconnect?: boolean; inboxPrefix?: string } = {}) => {
    const nc = await connect({
      servers: hub.clientUrl,
      authenticator: credsAuthenticator(creds),
      ...options,
    });
    connections.push(nc);
    return nc;
  };
  const user = async (
    account: KeyPair,
    name: string,
    permissions?: ReturnType<typeof researcherPermissions>,
  ) =>
    newUserCreds({
      name,
      account: account.seed,
      connection: "client",
      ...(permissions ? { permissions } : {}),
    });
  const fedAdmin = async () => client((await user(fed.keys.fed, "admin")).creds);
  const sysAdmin = async () => client((await user(fed.keys.sys, "admin-system")).creds);
  const treEvent = (type: string, tre: string) =>
    waitFor(`a ${type} event for TRE ${tre}`, () =>
      events.some((e) => e.service === "tres" && e.event.type === type && e.event.tre === tre),
    );
  const fedView = async () => (await jetstreamManager(await fedAdmin())).streams.info(streams.fedResults);

  beforeAll(async () => {
    fed = await writeFederationFiles();
    hub = await start();
  });

  afterAll(async () => {
    for (const nc of connections) await nc.close().catch(() => undefined);
    await hub?.stop();
    if (fed) await rm(fed.dir, { recursive: true, force: true });
  });

  it("serves the hub services' streams to a FED user, and its FED view sources no TRE yet", async () => {
    expect(hub.mode).toBe("operator");
    expect(hub.systemAccount).toBe(fed.keys.sys.publicKey);
    const jsm = await jetstreamManager(await fedAdmin());
    const names: string[] = [];
    for await (const s of jsm.streams.names()) names.push(s);
    expect(names).toEqual(expect.arrayContaining([streams.fedResults, "KV_REGISTRY", "KV_TASK_STATE"]));
    const view = await jsm.streams.info(streams.fedResults);
    expect(view.config.sources ?? []).toEqual([]);
    // Never the stream's own name, which nats-server would give a stream with neither sources nor subjects.
    expect(view.config.subjects).toEqual([subjects.sourceRestart(streams.fedResults)]);
  });

  it("refuses a leaf that dials in without credentials", async () => {
    await using leaf = await startNatsServer({
      name: "anonymous-leaf",
      dir: join(fed.dir, "anonymous-leaf"),
      configText: toNatsConf({
        server_name: "anonymous-leaf",
        host: "127.0.0.1",
        port: -1,
        http_port: -1,
        leafnodes: { remotes: [{ url: hub.leafUrl }] },
      }),
    });
    await waitFor("the hub to refuse the leaf", async () =>
      /Leafnode connection closed: Authentication Failure/.test(await hub.server.readLog()),
    );
    expect((await fetchLeafz(hub.server.monitorUrl!)).leafnodes).toBe(0);
    expect((await fetchLeafz(leaf.monitorUrl!)).leafnodes).toBe(0);
  });

  it("sets up a TRE that joins while it runs: its streams in its own account, its results in the FED view", async () => {
    const { operator, fed: fedKey } = fed.keys;
    await nextSecond(); // the pushed FED JWT must be newer than the one preloaded at start
    const sys = await sysAdmin();
    // As `tremesh admin add-tre` does: the TRE's account, then FED's imports from it, then the registry.
    await pushClaims(
      sys,
      await treAccountJwt(operator.seed, {
        tre: "a",
        account: treA.publicKey,
        fed: fedKey.publicKey,
        storageBytes: 64 << 20,
      }),
    );
    await pushClaims(
      sys,
      await fedAccountJwt(operator.seed, {
        account: fedKey.seed,
        research: fed.keys.research.publicKey,
        tres: [{ tre: "a", account: treA.seed }],
      }),
    );
    const registry = await Registry.open(jetstream(await fedAdmin()));
    await registry.putTre({
      name: "a",
      publicKey: treASigning.publicKey,
      account: treA.publicKey,
      addedAt: Date.now(),
    });

    // The operations creds are not there yet: the hub says so, keeps running, and tries again.
    await waitFor("an error event naming TRE a's creds", () =>
      events.find(
        (e) =>
          e.service === "tres" &&
          e.event.type === "error" &&
          e.event.tre === "a" &&
          /a\.creds/.test(e.event.error.message),
      ),
    );
    expect(hub.managedTres()).toEqual([]);
    const ops = await newUserCreds({
      name: "hub-ops-a",
      account: treA.seed,
      connection: "client",
      permissions: treOpsPermissions("a"),
    });
    await writeSecret(join(fed.treCredsDir, "a.creds"), ops.creds);
    await treEvent("added", "a");
    expect(hub.managedTres()).toEqual(["a"]);

    const treJsm = await jetstreamManager(await client((await user(treA, "admin-a")).creds));
    expect((await treJsm.streams.info(streams.tasks)).config.subjects).toEqual([subjects.treInbound("a")]);
    expect((await treJsm.streams.info(streams.results("a"))).config.name).toBe(streams.results("a"));
    const view = await waitFor("RESULTS_a in the FED view", async () => {
      const info = await fedView();
      return info.config.sources?.some((s) => s.name === streams.results("a")) ? info : undefined;
    });
    expect(view.config.subjects ?? []).toEqual([]);
    // FED's source consumer (a direct consumer: nats-server does not list it) answers across the accounts, through
    // the imports in the pushed JWTs: no error, and its heartbeats arrive.
    await waitFor("a healthy RESULTS_a source in the FED view", async () => {
      const source = (await fedView()).sources?.find((s) => s.name === streams.results("a"));
      return source !== undefined && source.error === undefined && source.active >= 0 && source.active < 3e9;
    });
    // The services trust the TRE's signing key and list it (offline: no leaf, no heartbeat).
    expect(hub.services.tres.trust.get(treASigning.publicKey)?.tre).toBe("a");
    expect(await hub.services.liveness.list()).toEqual([
      { tre: "a", online: false, publicKey: treASigning.publicKey },
    ]);
  });

  it("applies a pushed account JWT without a restart, and a restart keeps it", async () => {
    const { operator, research, fed: fedKey } = fed.keys;
    const alice = await user(research, "alice", researcherPermissions("alice"));
    const connected = await client(alice.creds, {
      reconnect: false,
      inboxPrefix: subjects.researcherInbox("alice"),
    });
    await nextSecond(); // the revocation covers JWTs issued up to its time, and must outdate the preloaded JWT
    const sys = await sysAdmin();
    await pushClaims(
      sys,
      await researchAccountJwt(operator.seed, {
        account: research.publicKey,
        fed: fedKey.seed,
        revocations: { [alice.userKey]: nowSeconds() },
      }),
    );
    const closedWith = await Promise.race([connected.closed(), sleep(10_000).then(() => "still open")]);
    expect(String(closedWith)).toMatch(/revoked/i);
    await expect(
      connect({ servers: hub.clientUrl, authenticator: credsAuthenticator(alice.creds), reconnect: false }),
    ).rejects.toThrow(/authorization|authentication/i);

    // accounts/ still holds the older RESEARCH and FED JWTs; the resolver keeps the newer pushed ones.
    await hub.stop();
    events.length = 0;
    hub = await start();
    await expect(
      connect({ servers: hub.clientUrl, authenticator: credsAuthenticator(alice.creds), reconnect: false }),
    ).rejects.toThrow(/authorization|authentication/i);
    await treEvent("added", "a");
    const view = await fedView();
    expect(view.config.sources?.map((s) => s.name)).toEqual([streams.results("a")]);
  });

  it("lets go of a TRE revoked in the registry: out of the FED view, the trust store and the liveness list", async () => {
    const registry = await Registry.open(jetstream(await fedAdmin()));
    const entry = await registry.tre("a");
    expect(entry?.revoked).toBeUndefined();
    await registry.putTre({ ...entry!, revoked: Date.now() });
    await treEvent("removed", "a");
    expect(hub.managedTres()).toEqual([]);
    const view = await waitFor("RESULTS_a out of the FED view", async () => {
      const info = await fedView();
      return (info.config.sources ?? []).length === 0 ? info : undefined;
    });
    expect(view.config.subjects).toEqual([subjects.sourceRestart(streams.fedResults)]);
    expect(hub.services.tres.list()).toEqual([]);
    expect(hub.services.tres.trust.get(treASigning.publicKey)).toBeUndefined();
    expect(await hub.services.liveness.list()).toEqual([]);
  });
});

describe("hub.yaml in operator mode", () => {
  let fed: Federation;
  beforeAll(async () => {
    fed = await writeFederationFiles();
  });
  afterAll(async () => {
    if (fed) await rm(fed.dir, { recursive: true, force: true });
  });

  /** hub.yaml beside the original (so relative paths resolve), with `change` applied. */
  const variant = async (change: (c: Record<string, unknown>) => void): Promise<string> => {
    const config = parse(await readFile(fed.hubFile, "utf8")) as Record<string, unknown>;
    change(config);
    const file = join(fed.dir, "hub", `variant-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, stringify(config));
    return file;
  };
  const operatorSection = (c: Record<string, unknown>) => c.operator as Record<string, string>;
  const loadError = async (file: string): Promise<ConfigFileError> => {
    const error = await loadHubConfig(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigFileError);
    return error as ConfigFileError;
  };

  it("loads the operator section: the system account, every account JWT and the services' creds", async () => {
    const config = await loadHubConfig(fed.hubFile);
    expect(config.operator?.systemAccount).toBe(fed.keys.sys.publicKey);
    expect(config.operator?.operatorKey).toBe(fed.keys.operator.publicKey);
    expect(Object.keys(config.operator?.accounts ?? {}).sort()).toEqual(
      [fed.keys.sys.publicKey, fed.keys.fed.publicKey, fed.keys.research.publicKey].sort(),
    );
    expect(config.operator?.treCredsDir).toBe(fed.treCredsDir);
    expect(config.tres).toEqual([]);
    expect(config.admins).toEqual([]);
  });

  it("refuses config-mode users and TREs beside `operator`", async () => {
    const error = await loadError(
      await variant((c) => {
        c.tres = [
          { name: "a", publicKey: generateKeyPair("user").publicKey, leaf: { user: "l", passwordFile: "x" } },
        ];
      }),
    );
    expect(error.field).toBe("tres");
    expect(error.message).toContain("must be absent with `operator`");
  });

  it("asks for `admins` and `tres` without `operator`", async () => {
    const error = await loadError(await variant((c) => delete c.operator));
    expect(error.field).toBe("admins");
    expect(error.message).toContain("is required (or an `operator` section)");
  });

  it("names a missing operator JWT or services creds file", async () => {
    const noJwt = await loadError(await variant((c) => (operatorSection(c).jwtFile = "./nope.jwt")));
    expect(noJwt.field).toBe("operator.jwtFile");
    expect(noJwt.message).toContain("cannot read ./nope.jwt (ENOENT)");
    const noCreds = await loadError(
      await variant((c) => (operatorSection(c).servicesCredsFile = "./nope.creds")),
    );
    expect(noCreds.field).toBe("operator.servicesCredsFile");
    expect(noCreds.message).toMatch(/nope\.creds cannot be read \(ENOENT\)/);
  });

  it("refuses a file in accountsDir that is not an account JWT issued by the operator, naming it", async () => {
    const dir = join(fed.dir, "bad-accounts");
    await mkdir(dir);
    const { operator, sys, fed: fedKey } = fed.keys;
    await writeFile(join(dir, "SYS.jwt"), await systemAccountJwt(operator.seed, sys.publicKey));
    const withDir = () => variant((c) => (operatorSection(c).accountsDir = "../bad-accounts"));

    await writeFile(join(dir, "OPERATOR.jwt"), await operatorJwt("x", operator.seed, sys.publicKey));
    let error = await loadError(await withDir());
    expect(error.field).toBe("operator.accountsDir");
    expect(error.message).toContain("OPERATOR.jwt is an operator JWT, not an account JWT");
    await rm(join(dir, "OPERATOR.jwt"));

    const stranger = generateKeyPair("operator");
    await writeFile(join(dir, "FED.jwt"), await systemAccountJwt(stranger.seed, fedKey.publicKey));
    error = await loadError(await withDir());
    expect(error.message).toContain("FED.jwt is an account JWT not issued by the operator");
    await rm(join(dir, "FED.jwt"));

    await rm(join(dir, "SYS.jwt"));
    error = await loadError(await withDir());
    expect(error.message).toContain(`has no JWT of the system account ${sys.publicKey}`);
  });

  it("refuses services creds that are not a FED user", async () => {
    const researcher = await newUserCreds({
      name: "r",
      account: fed.keys.research.seed,
      connection: "client",
    });
    await writeSecret(join(fed.dir, "hub", "secrets", "research.creds"), researcher.creds);
    const error = await loadError(
      await variant((c) => (operatorSection(c).servicesCredsFile = "./secrets/research.creds")),
    );
    expect(error.field).toBe("operator.servicesCredsFile");
    expect(error.message).toContain("is a user of account RESEARCH, not of FED");
  });
});
