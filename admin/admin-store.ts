/**
 * The federation admin's folder (operator mode): everything `tremesh admin` signs with and hands out, laid out
 * so that what is secret is obvious from where it sits.
 *
 *   federation.json          what exists: accounts, TREs, researchers, revocations (public keys only)
 *   operator.jwt             the operator JWT every hub server trusts
 *   accounts/<NAME>.jwt      every account JWT: the hub preloads this folder (public; copy it to each hub node)
 *   keys/<NAME>.nk           the operator's and every account's seed (0600, folder 0700): never leaves
 *   admin.creds              a FED user for registry edits; system.creds: a SYS user for pushing JWTs (0600)
 *   admin.profile.yaml       the admin's connection profile (hub URL, admin.creds)
 *   hub/hub.yaml             `tremesh hub start --config hub/hub.yaml`; hub/secrets/, hub/tre-creds/ (0600)
 *   tres/<tre>/              a TRE's onboarding bundle: leaf.yaml template, hub-link.creds
 *   researchers/<name>/      a researcher's bundle: <name>.creds, profile.yaml template
 *
 * federation.json is validated whenever it is read, and written whole through a temporary file and a rename,
 * so a crash mid-write leaves the previous state.
 */
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { userPublicKey } from "../common/index.js";
import {
  arr,
  type Infer,
  int,
  literal,
  obj,
  optional,
  PROJECT_NAME,
  record,
  str,
  TRE_NAME,
} from "../protocol/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";

const STATE_FILE = "federation.json";
const seconds = int({ min: 0, max: Number.MAX_SAFE_INTEGER });
const accountKey = str({ min: 56, max: 56, pattern: /^A[A-Z2-7]{55}$/, what: "an account public key" });
const url = str({ min: 1, max: 2048 });

const stateSchema = obj({
  version: int({ min: 1, max: 1 }),
  operator: obj({ name: str({ min: 1, max: 64 }), publicKey: str({ min: 56, max: 56 }) }),
  hub: obj({
    /** Where clients (researchers, admins, the hub services) reach the hub. */
    clientUrls: arr(url, { min: 1, max: 16 }),
    /** Where TRE leaves dial the hub. */
    leafUrls: arr(url, { min: 1, max: 16 }),
    /** The hub services' message-signing key, which every leaf pins. */
    signingKey: userPublicKey,
    /**
     * During a change of the hub's key (admin-hub-key.ts): the next key, which leaves pin beside `signingKey` and
     * the hub signs with from the switch on. Absent: no change under way.
     */
    nextSigningKey: optional(userPublicKey),
    /** The keys the hub signed with before, oldest first: never a party's key, nor the hub's again. */
    retiredSigningKeys: optional(arr(userPublicKey, { max: 1000 })),
  }),
  /**
   * TLS on the hub's listeners (admin-tls.ts): the CA certificate is `tls/ca.crt`; `private` when this folder
   * holds the CA's key and issues the nodes' certificates, `external` with the operator's own PKI. Absent: the
   * hub listens in plaintext on loopback only.
   */
  tls: optional(obj({ ca: literal("private", "external") })),
  accounts: obj({ system: accountKey, fed: accountKey, research: accountKey }),
  tres: record(
    str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" }),
    obj({
      account: accountKey,
      /** The TRE's own message-signing key (made inside the TRE; only its public key is here). */
      signingKey: userPublicKey,
      leafUser: userPublicKey,
      opsUser: userPublicKey,
      storageBytes: int({ min: 1 << 20, max: Number.MAX_SAFE_INTEGER }),
      addedAt: seconds,
      revokedAt: optional(seconds),
    }),
    { max: 10_000 },
  ),
  researchers: record(
    str({ min: 1, max: 64, pattern: PROJECT_NAME, what: "a researcher name" }),
    obj({
      /** The researcher's own message-signing key. */
      signingKey: userPublicKey,
      /** The connection user in RESEARCH (its key is what a revocation names). */
      user: userPublicKey,
      addedAt: seconds,
      revokedAt: optional(seconds),
    }),
    { max: 100_000 },
  ),
});
export type FederationState = Infer<typeof stateSchema>;

/** Account names in `keys/` and `accounts/`. */
export type AccountName = "SYS" | "FED" | "RESEARCH" | `TRE_${string}`;

export class AdminStore {
  constructor(readonly dir: string) {}

  /** The admin folder named by `--dir` or TREMESH_ADMIN_DIR. */
  static locate(dir: string | undefined): AdminStore {
    const path = dir ?? process.env[ADMIN_DIR_ENV];
    if (!path) {
      throw new AdminError(
        `no admin folder: give --dir DIR or set ${ADMIN_DIR_ENV} (made by 'tremesh admin init')`,
        AdminErrorCode.usage,
      );
    }
    return new AdminStore(path);
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  get exists(): boolean {
    return existsSync(this.path(STATE_FILE));
  }

  async load(): Promise<FederationState> {
    let text: string;
    try {
      text = await readFile(this.path(STATE_FILE), "utf8");
    } catch (cause) {
      throw new AdminError(
        `${this.path(STATE_FILE)} cannot be read: is ${this.dir} a folder made by 'tremesh admin init'?`,
        AdminErrorCode.badInput,
        { cause },
      );
    }
    try {
      return stateSchema(JSON.parse(text), "federation.json");
    } catch (cause) {
      throw new AdminError(
        `${this.path(STATE_FILE)}: ${cause instanceof Error ? cause.message : String(cause)}`,
        AdminErrorCode.badInput,
        { cause },
      );
    }
  }

  async save(state: FederationState): Promise<void> {
    stateSchema(state, "federation.json");
    await this.writePublic(STATE_FILE, `${JSON.stringify(state, null, 2)}\n`);
  }

  /** Writes a file anyone may read (JWTs, templates), atomically. */
  async writePublic(relative: string, text: string | Uint8Array): Promise<string> {
    return this.#write(relative, text, 0o644);
  }

  /** Writes a secret (seed, creds, password) owner-only, atomically; its folder is made owner-only too. */
  async writeSecret(relative: string, text: string | Uint8Array): Promise<string> {
    return this.#write(relative, text, 0o600);
  }

  async seed(account: AccountName | "operator"): Promise<string> {
    const text = await readFile(this.path("keys", `${account}.nk`), "utf8").catch((cause: unknown) => {
      throw new AdminError(
        `the key of ${account} is missing from ${this.path("keys")}`,
        AdminErrorCode.badInput,
        {
          cause,
        },
      );
    });
    return text.trim();
  }

  async saveSeed(account: AccountName | "operator", seed: string): Promise<void> {
    await this.writeSecret(join("keys", `${account}.nk`), `${seed}\n`);
  }

  async saveAccountJwt(account: AccountName, jwt: string): Promise<string> {
    return this.writePublic(join("accounts", `${account}.jwt`), `${jwt}\n`);
  }

  async accountJwt(account: AccountName): Promise<string> {
    return (await readFile(this.path("accounts", `${account}.jwt`), "utf8")).trim();
  }

  async #write(relative: string, text: string | Uint8Array, mode: number): Promise<string> {
    const target = this.path(relative);
    const folder = dirname(target);
    await mkdir(folder, { recursive: true, mode: mode === 0o600 ? 0o700 : 0o755 });
    if (mode === 0o600) await chmod(folder, 0o700);
    const temporary = `${target}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode });
    await chmod(temporary, mode);
    await rename(temporary, target);
    return target;
  }
}

export const ADMIN_DIR_ENV = "TREMESH_ADMIN_DIR";

/** Seconds since the epoch: what JWT times and revocations use. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
