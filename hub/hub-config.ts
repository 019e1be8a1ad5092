/**
 * `hub.yaml`, the federation operator's one file for `tremesh hub start`. Secrets (passwords, the hub's
 * signing seed) live in their own owner-only files that the config names; the config itself can be
 * reviewed and kept in version control.
 *
 * @example
 * # hub.yaml
 * name: hub
 * host: 127.0.0.1
 * ports: { client: 4222, leaf: 7422, monitor: 8222 }
 * dataDir: ./hub-data
 * signingKeyFile: ./secrets/hub.seed
 * admins:
 *   - { user: admin, passwordFile: ./secrets/admin.password }
 * researchers:
 *   - { user: alice, passwordFile: ./secrets/alice.password }
 * tres:
 *   - name: a
 *     publicKey: UB…                      # the TRE's signing key, made inside the TRE
 *     leaf: { user: leaf-a, passwordFile: ./secrets/leaf-a.password }
 */
import {
  ConfigFileError,
  configPath,
  readSecretFile,
  readSigningKeyFile,
  readYamlConfig,
  type UserCredential,
  userPublicKey,
  validateConfig,
} from "../common/index.js";
import { arr, type Infer, int, obj, optional, type SigningKey, str, TRE_NAME } from "../protocol/index.js";

const port = int({ min: -1, max: 65_535 });
const user = obj({
  user: str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a user name" }),
  passwordFile: str({ min: 1, max: 4096 }),
});

export const hubConfigSchema = obj({
  /** nats-server `server_name`. Default "hub". */
  name: optional(
    str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a server name" }),
  ),
  /** Interface every listener binds. Default 127.0.0.1. */
  host: optional(str({ min: 1, max: 255 })),
  /** Listener ports; -1 picks a free one (tests). Defaults: client 4222, leaf 7422, monitor 8222. */
  ports: optional(obj({ client: optional(port), leaf: optional(port), monitor: optional(port) })),
  /** JetStream store and the generated server config (owner-only). */
  dataDir: str({ min: 1, max: 4096 }),
  /** The hub's nkey seed (`tremesh keygen`); leaves pin its public key. */
  signingKeyFile: str({ min: 1, max: 4096 }),
  /** Federation admins: FED-account users for `tremesh admin` and `tremesh audit`. */
  admins: arr(user, { min: 1, max: 100 }),
  /** Researchers' connection users (see HubServerModel.researchers). */
  researchers: optional(arr(user, { max: 10_000 })),
  tres: arr(
    obj({
      name: str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" }),
      publicKey: userPublicKey,
      leaf: user,
    }),
    { min: 1, max: 1000 },
  ),
  /** After how long without a heartbeat a TRE counts as offline, in ms. Default 30 000. */
  offlineAfterMs: optional(int({ min: 1000, max: 86_400_000 })),
});
export type HubConfigFile = Infer<typeof hubConfigSchema>;

/** hub.yaml with paths resolved and secrets read. Holds secrets: never log it. */
export interface HubConfig {
  file: string;
  name: string;
  host: string;
  ports: { client: number; leaf: number; monitor: number };
  dataDir: string;
  hubKey: SigningKey;
  admins: UserCredential[];
  researchers: UserCredential[];
  tres: { name: string; publicKey: string; leaf: UserCredential }[];
  offlineAfterMs?: number;
}

export async function loadHubConfig(file: string): Promise<HubConfig> {
  const loaded = await readYamlConfig(file);
  const c = validateConfig(loaded, hubConfigSchema);
  const names = new Set<string>();
  c.tres.forEach((t, i) => {
    if (names.has(t.name)) throw new ConfigFileError(file, `tres[${i}].name`, `TRE ${t.name} appears twice`);
    names.add(t.name);
  });
  const credential = async (field: string, u: { user: string; passwordFile: string }) => ({
    user: u.user,
    password: await readSecretFile(loaded, `${field}.passwordFile`, u.passwordFile),
  });
  const hubKey = await readSigningKeyFile(loaded, "signingKeyFile", c.signingKeyFile);
  return {
    file,
    name: c.name ?? "hub",
    host: c.host ?? "127.0.0.1",
    ports: {
      client: c.ports?.client ?? 4222,
      leaf: c.ports?.leaf ?? 7422,
      monitor: c.ports?.monitor ?? 8222,
    },
    dataDir: configPath(loaded, c.dataDir),
    hubKey,
    admins: await Promise.all(c.admins.map((a, i) => credential(`admins[${i}]`, a))),
    researchers: await Promise.all((c.researchers ?? []).map((r, i) => credential(`researchers[${i}]`, r))),
    tres: await Promise.all(
      c.tres.map(async (t, i) => ({
        name: t.name,
        publicKey: t.publicKey,
        leaf: await credential(`tres[${i}].leaf`, t.leaf),
      })),
    ),
    ...(c.offlineAfterMs === undefined ? {} : { offlineAfterMs: c.offlineAfterMs }),
  };
}
