import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeAccount, encodeUser, fmtCreds } from "@nats-io/jwt";
import { createAccount, createUser, fromPublic, type KeyPair } from "@nats-io/nkeys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigFileError } from "./config-file.js";
import { credsAllowConnectionType, credsFileAuthenticator, readCredsFile } from "./creds-file.js";

let dir: string;
const account = createAccount();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-creds-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let count = 0;
/** Writes `bytes` to a fresh file with `mode` and returns its path. */
async function write(bytes: Uint8Array | string, mode = 0o600): Promise<string> {
  const path = join(dir, `c${count++}.creds`);
  await writeFile(path, bytes, { mode });
  await chmod(path, mode);
  return path;
}

async function userCreds(
  options: { name?: string; exp?: number; types?: ("STANDARD" | "LEAFNODE")[]; seedOf?: KeyPair } = {},
): Promise<{ path: string; user: KeyPair }> {
  const user = createUser();
  const jwt = await encodeUser(
    options.name ?? "alice",
    user,
    account,
    options.types ? { allowed_connection_types: options.types } : {},
    options.exp === undefined ? {} : { exp: options.exp },
  );
  return { path: await write(fmtCreds(jwt, options.seedOf ?? user)), user };
}

async function failure(path: string, field?: string): Promise<ConfigFileError> {
  const error = await readCredsFile(path, field ? { configFile: "leaf.yaml", field } : {}).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigFileError);
  return error as ConfigFileError;
}

describe("readCredsFile", () => {
  it("reads a user's creds: name, key, account, expiry and connection types, and the bytes for the client", async () => {
    const exp = Math.floor(Date.now() / 1000) + 3600;
    const { path, user } = await userCreds({ name: "leaf-a", exp, types: ["LEAFNODE"] });
    const creds = await readCredsFile(path);
    expect(creds).toMatchObject({
      path,
      name: "leaf-a",
      userKey: user.getPublicKey(),
      account: account.getPublicKey(),
      expiresAt: exp * 1000,
      allowedConnectionTypes: ["LEAFNODE"],
    });
    expect(new TextDecoder().decode(creds.bytes)).toContain("-----BEGIN USER NKEY SEED-----");
    expect(credsAllowConnectionType(creds, "leafnode")).toBe(true);
    expect(credsAllowConnectionType(creds, "STANDARD")).toBe(false);
  });

  it("logs in as the file's user: its JWT, and the server's nonce signed with its seed", async () => {
    const { path, user } = await userCreds();
    const creds = await readCredsFile(path);
    const auth = credsFileAuthenticator(creds.bytes)("a-server-nonce") as {
      jwt: string;
      nkey: string;
      sig: string;
    };
    expect(auth.jwt).toBe(new TextDecoder().decode(creds.bytes).split("\n")[1]);
    expect(auth.nkey).toBe(user.getPublicKey());
    // Checked by the nkeys library, as nats-server checks it: standard base64 of the Ed25519 signature.
    const signature = Uint8Array.from(Buffer.from(auth.sig, "base64"));
    expect(fromPublic(auth.nkey).verify(new TextEncoder().encode("a-server-nonce"), signature)).toBe(true);
    expect(fromPublic(auth.nkey).verify(new TextEncoder().encode("another-nonce"), signature)).toBe(false);
  });

  it("takes the account from issuer_account when an account signing key issued the JWT", async () => {
    const signer = createAccount();
    const user = createUser();
    const jwt = await encodeUser("bob", user, account.getPublicKey(), {}, { signer });
    const creds = await readCredsFile(await write(fmtCreds(jwt, user)));
    expect(creds.account).toBe(account.getPublicKey());
    expect(creds.expiresAt).toBeUndefined();
    expect(creds.allowedConnectionTypes).toBeUndefined();
    expect(credsAllowConnectionType(creds, "LEAFNODE")).toBe(true);
  });

  it("reads a file with Windows line ends, normalising them for the client", async () => {
    const user = createUser();
    const text = new TextDecoder().decode(fmtCreds(await encodeUser("carol", user, account), user));
    const creds = await readCredsFile(await write(text.replace(/\n/g, "\r\n")));
    expect(new TextDecoder().decode(creds.bytes)).not.toContain("\r");
  });

  it("refuses a seed that is not the JWT user's key, without printing either", async () => {
    const stranger = createUser();
    const { path, user } = await userCreds({ seedOf: stranger });
    const error = await failure(path, "hub.credsFile");
    expect(error.file).toBe("leaf.yaml");
    expect(error.field).toBe("hub.credsFile");
    expect(error.message).toBe(
      `leaf.yaml: hub.credsFile: ${path} has a seed that is not the key of its JWT's user ${user.getPublicKey()}`,
    );
    expect(error.message).not.toContain(new TextDecoder().decode(stranger.getSeed()));
    expect(error.message).not.toContain(new TextDecoder().decode(user.getSeed()));
    // A whole seed: S, its key type, 56 base32 characters, standing alone. A public key
    // may hold "SU" inside it, which is why the pattern is anchored on both sides.
    expect(error.message).not.toMatch(/(?<![A-Z2-7])S[AOUNCX][A-Z2-7]{56}(?![A-Z2-7])/);
  });

  it("refuses an expired JWT, saying when it expired", async () => {
    const exp = Math.floor(Date.now() / 1000) - 60;
    const { path } = await userCreds({ exp });
    expect((await failure(path)).message).toBe(
      `${path}: has a user JWT that expired at ${new Date(exp * 1000).toISOString()}`,
    );
  });

  it("refuses an account JWT in place of a user's", async () => {
    const jwt = await encodeAccount("A", account);
    // fmtCreds labels any token "NATS USER JWT", as a careless hand would.
    const path = await write(fmtCreds(jwt, account));
    expect((await failure(path)).message).toBe(`${path}: holds an account JWT, not a user JWT`);
  });

  it("refuses garbage, a JWT whose signature does not verify, and a second JWT", async () => {
    expect((await failure(await write("hello\n"))).message).toMatch(
      /is not a NATS creds file: it needs one "NATS USER JWT" block and one "USER NKEY SEED" block \(has 0 and 0\)$/,
    );
    const { path } = await userCreds();
    const text = await readFile(path, "utf8");
    const jwt = text.split("\n")[1] ?? "";
    const [header, payload, signature] = jwt.split(".");
    const tampered = text.replace(jwt, `${header}.${payload}x.${signature}`);
    expect((await failure(await write(tampered))).message).toMatch(
      /has a user JWT (whose signature does not verify|that is not a valid NATS JWT)$/,
    );
    const flipped = `${header}.${payload}.${(signature ?? "").replace(/^./, (c) => (c === "A" ? "B" : "A"))}`;
    expect((await failure(await write(text.replace(jwt, flipped)))).message).toMatch(
      /has a user JWT whose signature does not verify$/,
    );
    const twice = text.replace(
      "\n\n",
      `\n-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n`,
    );
    expect((await failure(await write(twice))).message).toMatch(/\(has 2 and 1\)$/);
  });

  it("refuses a creds file that other users can read, and one that is missing", async () => {
    const user = createUser();
    const path = await write(fmtCreds(await encodeUser("dave", user, account), user), 0o644);
    expect((await failure(path, "credsFile")).message).toBe(
      `leaf.yaml: credsFile: ${path} can be read by other users (mode 644); chmod 600 it`,
    );
    expect((await failure(join(dir, "missing.creds"))).message).toMatch(/: cannot be read \(ENOENT\)$/);
  });
});
