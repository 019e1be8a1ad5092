import { readFile } from "node:fs/promises";
import { jetstreamManager } from "@nats-io/jetstream";
import { stringify } from "yaml";
import { isUserPublicKey } from "../common/index.js";
import { leafLinkPermissions, newUserCreds, researcherPermissions, treOpsPermissions } from "../hub/index.js";
import { generateKeyPair, HUB_DOMAIN, isTreName, PROJECT_NAME, streams } from "../protocol/index.js";
import { activeTres, renewFedJwt, renewTreJwt, treAccount } from "./admin-accounts.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import { connectAsCreds, pushAccountJwt, withHubAdmin } from "./admin-hub.js";
import { type AdminStore, type FederationState, nowSeconds } from "./admin-store.js";
import { BUNDLE_CA, CA_CERT } from "./admin-tls.js";

/** Default JetStream storage of a TRE's hub account (its task queue and results view). */
const DEFAULT_TRE_STORAGE_BYTES = 1 << 30;

/**
 * Refuses a key already used by the hub (its next key in a change, or one it signed with before), a TRE or a
 * researcher: one key, one principal.
 */
export function checkKeyUnused(state: FederationState, key: string): void {
  const { hub } = state;
  const holder =
    key === hub.signingKey || key === hub.nextSigningKey
      ? "the hub"
      : hub.retiredSigningKeys?.includes(key)
        ? "the hub, which signed with it before"
        : (Object.entries(state.tres).find(([, t]) => t.signingKey === key)?.[0] ??
          Object.entries(state.researchers).find(([, r]) => r.signingKey === key)?.[0]);
  if (holder !== undefined) {
    throw new AdminError(
      `that signing key is already registered (to ${holder}); each party needs its own`,
      AdminErrorCode.badInput,
    );
  }
}

function checkSigningKey(key: string | undefined, command: string): string {
  if (!key || !isUserPublicKey(key)) {
    throw new AdminError(
      `admin ${command}: --signing-key must be the public key (U…) printed by 'tremesh ${
        command === "add-tre" ? "leaf keygen" : "keygen"
      }'`,
      AdminErrorCode.usage,
    );
  }
  return key;
}

export interface AddTreResult {
  tre: string;
  account: string;
  /**
   * Whether the hub set up the TRE's task queue and results stream in time. Until it has, tasks for the TRE
   * cannot be dispatched; false means the hub is not following the registry with this folder's hub/tre-creds.
   */
  ready: boolean;
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
  options: { signingKey: string | undefined; storageBytes?: number; readyTimeoutMs?: number },
): Promise<AddTreResult> {
  if (!isTreName(name) || name === HUB_DOMAIN) {
    throw new AdminError(
      `admin add-tre: ${JSON.stringify(name)} is not a TRE name (lower case letters, digits and -, not "${HUB_DOMAIN}")`,
      AdminErrorCode.usage,
    );
  }
  const signingKey = checkSigningKey(options.signingKey, "add-tre");
  const state = await store.load();
  if (state.tres[name]) {
    throw new AdminError(
      `TRE ${name} ${state.tres[name].revokedAt === undefined ? "exists" : "was revoked; TRE names are not reused: onboard it under a new name"}`,
      AdminErrorCode.failed,
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
    if (state.tls) await copyCaInto(store, `tres/${name}`);
    const leafConfig = await store.writePublic(`tres/${name}/leaf.yaml`, leafTemplate(state, name));
    return {
      tre: name,
      account: account.publicKey,
      ready: await treStreamsReady(store, state, name, options.readyTimeoutMs ?? 15_000),
      bundle: { dir: store.path("tres", name), leafConfig, creds },
    };
  });
}

/**
 * Waits until the hub has made TASKS and the results stream in the TRE's account, checking as the hub's own
 * operations user (which may read their info and nothing more).
 */
async function treStreamsReady(
  store: AdminStore,
  state: FederationState,
  tre: string,
  timeoutMs: number,
): Promise<boolean> {
  const nc = await connectAsCreds(store, state, `hub/tre-creds/${tre}.creds`, "tremesh-admin-check");
  try {
    const jsm = await jetstreamManager(nc);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = await Promise.all(
        [streams.tasks, streams.results(tre)].map((s) =>
          jsm.streams.info(s).then(
            () => true,
            () => false,
          ),
        ),
      );
      if (found.every(Boolean)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** The TRE's leaf.yaml to start from: the hub link filled in, the TRE's own approvals left to the TRE. */
function leafTemplate(state: FederationState, tre: string): string {
  return [
    `# leaf.yaml for TRE ${tre}, from the federation's onboarding bundle (tremesh admin add-tre).`,
    "# Filled in: the hub link (hub-link.creds may only make this TRE's leaf link) and the hub's pinned key.",
    ...(state.hub.nextSigningKey === undefined
      ? []
      : [
          "# hub.nextPublicKey: the federation is changing its hub key; once the admin says the change is over, make",
          "# it hub.publicKey and remove nextPublicKey.",
        ]),
    "# Yours to fill in: where your signing seed is (the one `tremesh leaf keygen` made), your datasets,",
    "# the projects and researchers you approve, and your reviewers. Nothing here is trusted from the hub.",
    ...(state.tls
      ? [
          "# hub.caFile pins the federation's CA: the hub's certificate must chain to it and name the URL's host.",
        ]
      : []),
    stringify({
      tre,
      dataDir: "./data",
      signingKeyFile: `./secrets/tre-${tre}.seed`,
      hub: {
        urls: state.hub.leafUrls,
        ...(state.tls ? { caFile: `./${BUNDLE_CA}` } : {}),
        credsFile: "./hub-link.creds",
        publicKey: state.hub.signingKey,
        ...(state.hub.nextSigningKey === undefined ? {} : { nextPublicKey: state.hub.nextSigningKey }),
      },
      researchers: [],
      reviewers: [],
      datasets: [],
      projects: [],
    }),
  ].join("\n");
}

/** Puts the federation's CA certificate into a bundle folder, for its leaf.yaml or profile to pin. */
async function copyCaInto(store: AdminStore, folder: string): Promise<void> {
  await store.writePublic(`${folder}/${BUNDLE_CA}`, await readFile(store.path(CA_CERT)));
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
    throw new AdminError(
      `admin add-researcher: ${JSON.stringify(name)} is not a researcher name (lower case letters, digits, _ and -)`,
      AdminErrorCode.usage,
    );
  }
  const signingKey = checkSigningKey(options.signingKey, "add-researcher");
  const state = await store.load();
  if (state.researchers[name]) {
    throw new AdminError(
      `researcher ${name} ${state.researchers[name].revokedAt === undefined ? "exists" : "was revoked; researcher names are not reused: add them under a new name"}`,
      AdminErrorCode.failed,
    );
  }
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
    if (state.tls) await copyCaInto(store, `researchers/${name}`);
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
    ...(state.tls ? [`# caFile: the federation's CA; the hub's certificate must chain to it (TLS).`] : []),
    stringify({
      hub: state.hub.clientUrls.join(","),
      ...(state.tls ? { caFile: `./${BUNDLE_CA}` } : {}),
      credsFile: `./${name}.creds`,
      signingKeyFile: `./${name}.seed`,
      treKeys: Object.fromEntries(activeTres(state).map(([tre, t]) => [tre, t.signingKey])),
    }),
  ].join("\n");
}
