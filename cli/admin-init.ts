/**
 * `tremesh admin init`, the one step that needs no running hub: it makes the operator and the accounts every
 * later change builds on, and the hub's own config, so the hub can start in operator mode from this folder.
 */
import { stringify } from "yaml";
import {
  fedAccountJwt,
  newUserCreds,
  operatorJwt,
  researchAccountJwt,
  systemAccountJwt,
} from "../hub/index.js";
import { generateKeyPair } from "../protocol/index.js";
import type { AdminStore, FederationState } from "./admin-store.js";
import { CliError, ExitCode } from "./exit-codes.js";

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
