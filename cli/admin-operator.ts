/**
 * What `tremesh admin` does in operator mode, as functions the CLI, the demo and the tests share: make the
 * operator and its accounts, onboard TREs and researchers, revoke either, and push every changed account JWT
 * to the running hub's resolver, so a change takes effect at once and without a restart.
 *
 * Every change follows one order: new keys and creds are written first, then federation.json, then the JWTs
 * are pushed, then the registry learns of it. A push that fails leaves the folder complete, and
 * `tremesh admin push` (or the next hub start, which preloads accounts/) finishes the job.
 */
import { readdir, readFile } from "node:fs/promises";
import { relative } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { stringify } from "yaml";
import {
  fedAccountJwt,
  leafLinkPermissions,
  newUserCreds,
  operatorJwt,
  type Project,
  Registry,
  researchAccountJwt,
  researcherPermissions,
  systemAccountJwt,
  treAccountJwt,
  treOpsPermissions,
} from "../hub/index.js";
import { generateKeyPair, HUB_DOMAIN, isTreName, PROJECT_NAME } from "../protocol/index.js";
import {
  type AccountName,
  type AdminStore,
  type FederationState,
  isUserPublicKey,
  nowSeconds,
} from "./admin-store.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** Default JetStream storage of a TRE's hub account (its task queue and results view). */
export const DEFAULT_TRE_STORAGE_BYTES = 1 << 30;

export interface InitOptions {
  /** The operator's name (in every JWT it signs). Default "tremesh". */
  operatorName?: string;
  /** The hub's `server_name`. Default "hub". */
  hubName?: string;
  /** Interface the hub binds. Default 127.0.0.1. */
  host?: string;
  /** Hub ports. Defaults: client 4222, leaf 7422, monitor 8222. */
  ports?: { client?: number; leaf?: number; monitor?: number };
  /** URLs clients use to reach the hub. Default `nats://<host>:<client>`. */
  clientUrls?: string[];
  /** URLs TRE leaves dial. Default `nats-leaf://<host>:<leaf>`. */
  leafUrls?: string[];
  /** The hub's offline threshold for TREs, in ms. Default: the hub's own. */
  offlineAfterMs?: number;
}

export interface InitResult {
  state: FederationState;
  hubConfig: string;
  adminProfile: string;
}

/**
 * `tremesh admin init`: the operator, SYS, FED and RESEARCH accounts, the hub's signing key and its users, and
 * hub/hub.yaml in operator mode. Works offline; refuses a folder that already holds a federation.
 */
export async function initFederation(store: AdminStore, options: InitOptions = {}): Promise<InitResult> {
  if (store.exists) {
    throw new CliError(`${store.dir} already holds a federation; nothing was changed`, ExitCode.failed);
  }
  const host = options.host ?? "127.0.0.1";
  const ports = { client: 4222, leaf: 7422, monitor: 8222, ...options.ports };
  const operator = generateKeyPair("operator");
  const sys = generateKeyPair("account");
  const fed = generateKeyPair("account");
  const research = generateKeyPair("account");
  const hubKey = generateKeyPair("user");
  const state: FederationState = {
    version: 1,
    operator: { name: options.operatorName ?? "tremesh", publicKey: operator.publicKey },
    hub: {
      clientUrls: options.clientUrls ?? [`nats://${host}:${ports.client}`],
      leafUrls: options.leafUrls ?? [`nats-leaf://${host}:${ports.leaf}`],
      signingKey: hubKey.publicKey,
    },
    accounts: { system: sys.publicKey, fed: fed.publicKey, research: research.publicKey },
    tres: {},
    researchers: {},
  };
  await store.saveSeed("operator", operator.seed);
  await store.saveSeed("SYS", sys.seed);
  await store.saveSeed("FED", fed.seed);
  await store.saveSeed("RESEARCH", research.seed);
  await store.writePublic(
    "operator.jwt",
    `${await operatorJwt(state.operator.name, operator.seed, sys.publicKey)}\n`,
  );
  await store.saveAccountJwt("SYS", await systemAccountJwt(operator.seed, sys.publicKey));
  await store.saveAccountJwt(
    "FED",
    await fedAccountJwt(operator.seed, { account: fed.seed, research: research.publicKey, tres: [] }),
  );
  await store.saveAccountJwt(
    "RESEARCH",
    await researchAccountJwt(operator.seed, { account: research.publicKey, fed: fed.seed }),
  );

  const client = (name: string, account: string) => newUserCreds({ name, account, connection: "client" });
  await store.writeSecret("admin.creds", (await client("admin", fed.seed)).creds);
  await store.writeSecret("system.creds", (await client("admin-system", sys.seed)).creds);
  await store.writeSecret("hub/secrets/services.creds", (await client("hub-services", fed.seed)).creds);
  await store.writeSecret("hub/secrets/hub.seed", `${hubKey.seed}\n`);
  const hubConfig = await store.writePublic(
    "hub/hub.yaml",
    [
      "# The hub in operator mode, made by `tremesh admin init`. Start it with:",
      "#   tremesh hub start --config hub.yaml",
      "# accounts/ holds every account JWT; the hub preloads it at start, and `tremesh admin` pushes each change.",
      stringify({
        name: options.hubName ?? "hub",
        host,
        ports,
        dataDir: "./data",
        signingKeyFile: "./secrets/hub.seed",
        operator: {
          jwtFile: "../operator.jwt",
          accountsDir: "../accounts",
          servicesCredsFile: "./secrets/services.creds",
          treCredsDir: "./tre-creds",
        },
        ...(options.offlineAfterMs === undefined ? {} : { offlineAfterMs: options.offlineAfterMs }),
      }),
    ].join("\n"),
  );
  const adminProfile = await store.writePublic(
    "admin.profile.yaml",
    stringify({ hub: state.hub.clientUrls[0], credsFile: "./admin.creds" }),
  );
  await store.save(state);
  return { state, hubConfig, adminProfile };
}

/** Opens the admin's two hub connections (SYS for pushes, FED for the registry), or says nothing was changed. */
async function withHubAdmin<T>(
  store: AdminStore,
  state: FederationState,
  action: (sys: NatsConnection, registry: Registry) => Promise<T>,
): Promise<T> {
  const open = async (credsFile: string, name: string) => {
    try {
      return await connect({
        servers: state.hub.clientUrls,
        authenticator: credsAuthenticator(await readFile(store.path(credsFile))),
        name,
        timeout: 5_000,
        maxReconnectAttempts: 0,
      });
    } catch (cause) {
      throw new CliError(
        `cannot reach the hub at ${state.hub.clientUrls.join(", ")} as the admin (${credsFile}): ${
          cause instanceof Error ? cause.message : String(cause)
        }; nothing was changed`,
        ExitCode.unavailable,
        { cause },
      );
    }
  };
  const sys = await open("system.creds", "tremesh-admin-system");
  try {
    const fed = await open("admin.creds", "tremesh-admin");
    try {
      return await action(sys, await Registry.open(jetstream(fed)));
    } finally {
      await fed.close().catch(() => undefined);
    }
  } finally {
    await sys.close().catch(() => undefined);
  }
}

interface ClaimUpdateReply {
  data?: { code?: number; message?: string };
  error?: { code?: number; description?: string };
}

/** Pushes one account JWT to the hub's resolver (`$SYS.REQ.CLAIMS.UPDATE`); throws with the server's reason. */
export async function pushAccountJwt(sys: NatsConnection, account: string, jwt: string): Promise<void> {
  let reply: ClaimUpdateReply;
  try {
    reply = (await sys.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: 5_000 })).json<ClaimUpdateReply>();
  } catch (cause) {
    throw new CliError(
      `the hub did not take ${account}'s JWT: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        "run 'tremesh admin push' when the hub is back",
      ExitCode.unavailable,
      { cause },
    );
  }
  if (reply.error || reply.data?.code !== 200) {
    throw new CliError(
      `the hub refused ${account}'s JWT: ${reply.error?.description ?? JSON.stringify(reply)}`,
      ExitCode.failed,
    );
  }
}

/** Every TRE not revoked, in name order. */
function activeTres(state: FederationState): [string, FederationState["tres"][string]][] {
  return Object.entries(state.tres)
    .filter(([, t]) => t.revokedAt === undefined)
    .sort(([a], [b]) => a.localeCompare(b));
}

const treAccount = (tre: string): AccountName => `TRE_${tre.replaceAll("-", "_")}`;

/** FED's JWT for the current TREs: it imports from each active TRE's account only. */
async function renewFedJwt(store: AdminStore, state: FederationState): Promise<string> {
  const tres = [];
  for (const [tre] of activeTres(state)) tres.push({ tre, account: await store.seed(treAccount(tre)) });
  const jwt = await fedAccountJwt(await store.seed("operator"), {
    account: await store.seed("FED"),
    research: state.accounts.research,
    tres,
  });
  await store.saveAccountJwt("FED", jwt);
  return jwt;
}

/** RESEARCH's JWT with every revoked researcher's connection user in its revocations. */
async function renewResearchJwt(store: AdminStore, state: FederationState): Promise<string> {
  const revocations = Object.fromEntries(
    Object.values(state.researchers)
      .filter((r) => r.revokedAt !== undefined)
      .map((r) => [r.user, r.revokedAt as number]),
  );
  const jwt = await researchAccountJwt(await store.seed("operator"), {
    account: state.accounts.research,
    fed: await store.seed("FED"),
    revocations,
  });
  await store.saveAccountJwt("RESEARCH", jwt);
  return jwt;
}

async function renewTreJwt(store: AdminStore, state: FederationState, tre: string): Promise<string> {
  const t = state.tres[tre];
  if (!t) throw new CliError(`no TRE ${tre}`, ExitCode.failed);
  const jwt = await treAccountJwt(await store.seed("operator"), {
    tre,
    account: t.account,
    fed: state.accounts.fed,
    storageBytes: t.storageBytes,
    ...(t.revokedAt === undefined ? {} : { revocations: { "*": t.revokedAt } }),
  });
  await store.saveAccountJwt(treAccount(tre), jwt);
  return jwt;
}

/** Refuses a key already used by the hub, a TRE or a researcher: one key, one principal. */
function checkKeyUnused(state: FederationState, key: string): void {
  const holder =
    key === state.hub.signingKey
      ? "the hub"
      : (Object.entries(state.tres).find(([, t]) => t.signingKey === key)?.[0] ??
        Object.entries(state.researchers).find(([, r]) => r.signingKey === key)?.[0]);
  if (holder !== undefined) {
    throw new CliError(
      `that signing key is already registered (to ${holder}); each party needs its own`,
      ExitCode.badInput,
    );
  }
}

function checkSigningKey(key: string | undefined, command: string): string {
  if (!key || !isUserPublicKey(key)) {
    throw new CliError(
      `admin ${command}: --signing-key must be the public key (U…) printed by 'tremesh ${
        command === "add-tre" ? "leaf keygen" : "keygen"
      }'`,
      ExitCode.usage,
    );
  }
  return key;
}

export interface AddTreResult {
  tre: string;
  account: string;
  /** The onboarding bundle's folder and files, to hand to the TRE's operator. */
  bundle: { dir: string; leafConfig: string; creds: string };
}

/**
 * `tremesh admin add-tre NAME --signing-key U…`: the TRE's hub account (file JetStream within `storageBytes`,
 * exports to FED only), its leaf-link user (leaf connections only, `leafLinkPermissions`), the hub's operations
 * user in it, FED's imports from it; both JWTs pushed, the TRE registered with its signing key, and a bundle.
 */
export async function addTre(
  store: AdminStore,
  name: string,
  options: { signingKey: string | undefined; storageBytes?: number },
): Promise<AddTreResult> {
  if (!isTreName(name) || name === HUB_DOMAIN) {
    throw new CliError(
      `admin add-tre: ${JSON.stringify(name)} is not a TRE name (lower case letters, digits and -, not "${HUB_DOMAIN}")`,
      ExitCode.usage,
    );
  }
  const signingKey = checkSigningKey(options.signingKey, "add-tre");
  const state = await store.load();
  if (state.tres[name]) {
    throw new CliError(
      `TRE ${name} ${state.tres[name].revokedAt === undefined ? "exists" : "was revoked; TRE names are not reused"}`,
      ExitCode.failed,
    );
  }
  checkKeyUnused(state, signingKey);
  const storageBytes = options.storageBytes ?? DEFAULT_TRE_STORAGE_BYTES;
  return withHubAdmin(store, state, async (sys, registry) => {
    const account = generateKeyPair("account");
    await store.saveSeed(treAccount(name), account.seed);
    const ops = await newUserCreds({
      name: `hub-ops-${name}`,
      account: account.seed,
      connection: "client",
      permissions: treOpsPermissions(name),
    });
    await store.writeSecret(`hub/tre-creds/${name}.creds`, ops.creds);
    const leaf = await newUserCreds({
      name: `leaf-${name}`,
      account: account.seed,
      connection: "leaf",
      permissions: leafLinkPermissions(name),
    });
    const creds = await store.writeSecret(`tres/${name}/hub-link.creds`, leaf.creds);
    state.tres[name] = {
      account: account.publicKey,
      signingKey,
      leafUser: leaf.userKey,
      opsUser: ops.userKey,
      storageBytes,
      addedAt: nowSeconds(),
    };
    const treJwt = await renewTreJwt(store, state, name);
    const fedJwt = await renewFedJwt(store, state);
    await store.save(state);
    // The TRE's account before FED's imports from it: an import of an unknown account would not resolve.
    await pushAccountJwt(sys, treAccount(name), treJwt);
    await pushAccountJwt(sys, "FED", fedJwt);
    await registry.putTre({ name, publicKey: signingKey, account: account.publicKey, addedAt: Date.now() });
    const leafConfig = await store.writePublic(`tres/${name}/leaf.yaml`, leafTemplate(state, name));
    return {
      tre: name,
      account: account.publicKey,
      bundle: { dir: store.path("tres", name), leafConfig, creds },
    };
  });
}

/** The TRE's leaf.yaml to start from: the hub link filled in, the TRE's own approvals left to the TRE. */
function leafTemplate(state: FederationState, tre: string): string {
  return [
    `# leaf.yaml for TRE ${tre}, from the federation's onboarding bundle (tremesh admin add-tre).`,
    "# Filled in: the hub link (hub-link.creds may only make this TRE's leaf link) and the hub's pinned key.",
    "# Yours to fill in: where your signing seed is (the one `tremesh leaf keygen` made), your datasets,",
    "# the projects and researchers you approve, and your reviewers. Nothing here is trusted from the hub.",
    stringify({
      tre,
      dataDir: "./data",
      signingKeyFile: `./secrets/tre-${tre}.seed`,
      hub: { urls: state.hub.leafUrls, credsFile: "./hub-link.creds", publicKey: state.hub.signingKey },
      researchers: [],
      reviewers: [],
      datasets: [],
      projects: [],
    }),
  ].join("\n");
}

export interface AddResearcherResult {
  name: string;
  /** The researcher's bundle: connection creds and a profile to complete with their signing seed's path. */
  bundle: { dir: string; creds: string; profile: string };
}

/**
 * `tremesh admin add-researcher NAME --signing-key U…`: a RESEARCH connection user (submit, cancel, query and its
 * own inbox; client connections only) and the researcher's signing key in the registry. The connection key and
 * the signing key are different keys on purpose: a connection signs whatever nonce the server sends, so a hostile
 * server must never obtain signatures from the key that signs Submissions.
 */
export async function addResearcher(
  store: AdminStore,
  name: string,
  options: { signingKey: string | undefined },
): Promise<AddResearcherResult> {
  if (!PROJECT_NAME.test(name)) {
    throw new CliError(
      `admin add-researcher: ${JSON.stringify(name)} is not a researcher name (lower case letters, digits, _ and -)`,
      ExitCode.usage,
    );
  }
  const signingKey = checkSigningKey(options.signingKey, "add-researcher");
  const state = await store.load();
  if (state.researchers[name]) throw new CliError(`researcher ${name} exists`, ExitCode.failed);
  checkKeyUnused(state, signingKey);
  return withHubAdmin(store, state, async (_sys, registry) => {
    const user = await newUserCreds({
      name,
      account: await store.seed("RESEARCH"),
      connection: "client",
      permissions: researcherPermissions(name),
    });
    const creds = await store.writeSecret(`researchers/${name}/${name}.creds`, user.creds);
    state.researchers[name] = { signingKey, user: user.userKey, addedAt: nowSeconds() };
    await store.save(state);
    await registry.putResearcher({ name, publicKey: signingKey });
    const profile = await store.writePublic(
      `researchers/${name}/profile.yaml`,
      researcherProfile(state, name),
    );
    return { name, bundle: { dir: store.path("researchers", name), creds, profile } };
  });
}

function researcherProfile(state: FederationState, name: string): string {
  return [
    `# tremesh profile for ${name} (tremesh admin add-researcher).`,
    "# signingKeyFile: the seed you made with `tremesh keygen`; its public key is the one the admin registered.",
    "# treKeys: each TRE's release-signing key as the federation registered it; releases are checked against them.",
    stringify({
      hub: state.hub.clientUrls[0],
      credsFile: `./${name}.creds`,
      signingKeyFile: `./${name}.seed`,
      treKeys: Object.fromEntries(activeTres(state).map(([tre, t]) => [tre, t.signingKey])),
    }),
  ].join("\n");
}

/**
 * `tremesh admin revoke researcher NAME`: the connection user goes into RESEARCH's revocations (pushed: its open
 * connections are closed and new ones refused) and the signing key is revoked in the registry (its next
 * Submission is refused, whatever connection carries it).
 */
export async function revokeResearcher(store: AdminStore, name: string): Promise<void> {
  const state = await store.load();
  const researcher = state.researchers[name];
  if (!researcher) throw new CliError(`no researcher ${name}`, ExitCode.failed);
  await withHubAdmin(store, state, async (sys, registry) => {
    researcher.revokedAt ??= nowSeconds();
    const jwt = await renewResearchJwt(store, state);
    await store.save(state);
    await pushAccountJwt(sys, "RESEARCH", jwt);
    const entry = await registry.researcher(name);
    if (entry && entry.revoked === undefined) await registry.putResearcher({ ...entry, revoked: Date.now() });
  });
}

/**
 * `tremesh admin revoke tre NAME`: every user of the TRE's account is revoked (its leaf link drops at once and
 * cannot return), FED stops importing from it, the registry marks it revoked (the hub no longer trusts its
 * signature or sources its results) and it leaves every project.
 */
export async function revokeTre(store: AdminStore, name: string): Promise<{ projects: string[] }> {
  const state = await store.load();
  const tre = state.tres[name];
  if (!tre) throw new CliError(`no TRE ${name}`, ExitCode.failed);
  return withHubAdmin(store, state, async (sys, registry) => {
    tre.revokedAt ??= nowSeconds();
    const treJwt = await renewTreJwt(store, state, name);
    const fedJwt = await renewFedJwt(store, state);
    await store.save(state);
    await pushAccountJwt(sys, "FED", fedJwt);
    await pushAccountJwt(sys, treAccount(name), treJwt);
    const entry = await registry.tre(name);
    if (entry && entry.revoked === undefined) await registry.putTre({ ...entry, revoked: Date.now() });
    const projects: string[] = [];
    for (const project of await allProjects(registry)) {
      if (!project.tres.includes(name)) continue;
      await registry.updateProject(project.name, (p) => ({ ...p, tres: p.tres.filter((t) => t !== name) }));
      projects.push(project.name);
    }
    return { projects };
  });
}

/** Every project in the registry. */
export async function allProjects(registry: Registry): Promise<Project[]> {
  const projects: Project[] = [];
  for await (const key of await registry.kv.keys("project.>")) {
    const p = await registry.project(key.slice("project.".length));
    if (p) projects.push(p);
  }
  return projects.sort((a, b) => a.name.localeCompare(b.name));
}

/** `tremesh admin push`: every account JWT in accounts/ to the hub again (after a push failed, or to check). */
export async function pushAll(store: AdminStore): Promise<string[]> {
  const state = await store.load();
  return withHubAdmin(store, state, async (sys) => {
    const files = (await readdir(store.path("accounts"))).filter((f) => f.endsWith(".jwt")).sort();
    // TRE accounts before FED, which imports from them.
    files.sort((a, b) => Number(a === "FED.jwt") - Number(b === "FED.jwt"));
    for (const file of files) {
      const account = file.slice(0, -".jwt".length) as AccountName;
      await pushAccountJwt(sys, account, await store.accountJwt(account));
    }
    return files.map((f) => relative(store.dir, store.path("accounts", f)));
  });
}
