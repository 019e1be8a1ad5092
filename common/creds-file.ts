/**
 * NATS creds files (operator mode): a user JWT and the user's nkey seed in one owner-only file, as
 * `nsc` and `@nats-io/jwt` `fmtCreds` write them. Read and checked once, at the edge, so that a wrong,
 * expired or mixed-up file is named at load time rather than showing up as an authorisation error on
 * the wire.
 *
 * @example
 * const creds = await readCredsFile("/etc/tremesh/leaf-a.creds", { configFile: "leaf.yaml", field: "hub.credsFile" });
 * creds.account; // "AB…": the account the hub binds this user to
 * connect({ servers, authenticator: credsFileAuthenticator(creds.bytes) });
 */
import { readFile, stat } from "node:fs/promises";
import type { ClaimsData, User } from "@nats-io/jwt";
import type { Authenticator } from "@nats-io/transport-node";
import { type SigningKey, signingKeyFromSeed, verifyingKey, verifySignature } from "../protocol/index.js";
import { ConfigFileError, exposedSecretProblem } from "./config-file.js";

/** A creds file, checked. Everything but `bytes` may be shown. */
export interface CredsFile {
  /** The file, as given (absolute when the caller resolved it). */
  path: string;
  /** The JWT's `name`: the user's name as its account signer wrote it. */
  name: string;
  /** The JWT's `sub`: the user's public nkey (U…). */
  userKey: string;
  /** The account the user belongs to (A…): `issuer_account` when a signing key issued the JWT, else `iss`. */
  account: string;
  /** When the JWT expires, ms since the epoch. Absent: it never does. */
  expiresAt?: number;
  /** The JWT's `allowed_connection_types` (e.g. "STANDARD", "LEAFNODE"). Absent: any type. */
  allowedConnectionTypes?: string[];
  /** SECRET: the file's text (JWT and seed, line ends normalised) for `credsFileAuthenticator`. Never log it. */
  bytes: Uint8Array;
}

/** A login given as a creds file's path (e.g. leaf.yaml's `hub.credsFile`), for a server that reads the file itself. */
export interface CredsFileCredential {
  /** Absolute path of a creds file; the server or client reads it itself. */
  credsFile: string;
}

export interface ReadCredsFileOptions {
  /** The config file that names this creds file; errors then name it and `field`. Default: the creds file itself. */
  configFile?: string;
  /** The config field holding the path, e.g. `hub.credsFile`. */
  field?: string;
  /** The clock for the expiry check, ms. Default `Date.now()`. */
  now?: number;
}

/** Creds files hold one short JWT and a seed; anything much larger is not one. */
const MAX_CREDS_BYTES = 64 * 1024;
const JWT_LABEL = "NATS USER JWT";
const SEED_LABEL = "USER NKEY SEED";
/** A decorated block: `---…BEGIN <label>---…`, its one line of content, `---…END <label>---…`. */
const BLOCK =
  /^[ \t]*-{3,}[ \t]*BEGIN ([A-Z0-9 ]+?)[ \t]*-{3,}[ \t]*\n[ \t]*(\S*)[ \t]*\n[ \t]*-{3,}[ \t]*END ([A-Z0-9 ]+?)[ \t]*-{3,}[ \t]*$/gm;

/** The decorated blocks of a creds file's text (line ends normalised), each with its labels and its content. */
function credsBlocks(
  text: string,
): { begin: string | undefined; content: string; end: string | undefined }[] {
  return [...text.matchAll(BLOCK)].map((m) => ({ begin: m[1], content: m[2] ?? "", end: m[3] }));
}

/**
 * Reads and checks a creds file: owner-only (the rule of `readSecretFile`), exactly one user JWT then one user
 * seed, the JWT a validly self-signed user claim, the seed the key of the JWT's subject, and the JWT within
 * its validity dates. Throws ConfigFileError naming the file and the problem, never the seed or the JWT.
 */
export async function readCredsFile(path: string, options: ReadCredsFileOptions = {}): Promise<CredsFile> {
  const fail = (problem: string, cause?: unknown): never => {
    // Problems read as predicates of the file: "<path> can be read by other users…".
    const message = options.configFile === undefined ? problem : `${path} ${problem}`;
    throw new ConfigFileError(
      options.configFile ?? path,
      options.field ?? "",
      message,
      cause === undefined ? undefined : { cause },
    );
  };
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) fail("is not a file");
    const exposed = exposedSecretProblem(info.mode);
    if (exposed !== undefined) fail(exposed);
    if (info.size > MAX_CREDS_BYTES) fail("is too large for a creds file");
    text = (await readFile(path, "utf8")).replace(/\r\n/g, "\n");
  } catch (cause) {
    if (cause instanceof ConfigFileError) throw cause;
    return fail(`cannot be read (${(cause as NodeJS.ErrnoException).code ?? cause})`, cause);
  }

  const blocks = credsBlocks(text);
  const jwts = blocks.filter((b) => b.begin === JWT_LABEL).length;
  const seeds = blocks.filter((b) => b.begin === SEED_LABEL).length;
  if (jwts !== 1 || seeds !== 1) {
    fail(
      `is not a NATS creds file: it needs one "${JWT_LABEL}" block and one "${SEED_LABEL}" block (has ${jwts} and ${seeds})`,
    );
  }
  const unexpected = blocks.find(
    (b) => b.begin !== b.end || (b.begin !== JWT_LABEL && b.begin !== SEED_LABEL),
  );
  if (unexpected) fail(`has an unexpected block "${unexpected.begin}" … "${unexpected.end}"`);
  // Clients and servers take the first block as the JWT and the second as the seed.
  const [first, second] = blocks;
  if (blocks.length !== 2 || first?.begin !== JWT_LABEL || second?.begin !== SEED_LABEL)
    fail(`must hold the "${JWT_LABEL}" block before the "${SEED_LABEL}" block`);
  const jwt = first?.content ?? "";
  const seed = second?.content ?? "";

  const decoded = decodeJwt(jwt);
  if (decoded === "unsigned") return fail("has a user JWT whose signature does not verify");
  if (decoded === undefined) return fail("has a user JWT that is not a valid NATS JWT");
  const claims = decoded;
  const type = claims.nats?.type ?? claims.type;
  if (type !== "user") fail(`holds ${type ? `an ${type}` : "a"} JWT, not a user JWT`);
  if (typeof claims.sub !== "string" || !claims.sub.startsWith("U"))
    fail("has a user JWT whose subject is not a user public key (U…)");

  let seedKey: string;
  try {
    seedKey = signingKeyFromSeed(seed).publicKey;
  } catch (cause) {
    return fail("has a user seed that is not a valid nkey seed", cause);
  }
  if (seedKey !== claims.sub) fail(`has a seed that is not the key of its JWT's user ${claims.sub}`);

  const now = options.now ?? Date.now();
  const expiresAt = typeof claims.exp === "number" && claims.exp > 0 ? claims.exp * 1000 : undefined;
  if (expiresAt !== undefined && expiresAt <= now)
    fail(`has a user JWT that expired at ${new Date(expiresAt).toISOString()}`);
  if (typeof claims.nbf === "number" && claims.nbf * 1000 > now)
    fail(`has a user JWT that is not valid before ${new Date(claims.nbf * 1000).toISOString()}`);

  const types = claims.nats?.allowed_connection_types;
  return {
    path,
    name: claims.name ?? "",
    userKey: claims.sub,
    account: claims.nats?.issuer_account || claims.iss,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(Array.isArray(types) && types.length > 0 ? { allowedConnectionTypes: [...types] } : {}),
    bytes: new TextEncoder().encode(text),
  };
}

/**
 * A NATS JWT's claims, its signature checked against its issuer's key with node:crypto (the JWT library's
 * JavaScript Ed25519 costs a command-line run ~50 ms before it warms up); "unsigned" when the signature does not
 * verify, undefined when it is not a NATS JWT at all. A v2 JWT signs `header.payload`, a v1 JWT its payload.
 */
function decodeJwt(jwt: string): ClaimsData<User> | "unsigned" | undefined {
  const [header, payload, signature, ...rest] = jwt.split(".");
  if (header === undefined || payload === undefined || signature === undefined || rest.length > 0)
    return undefined;
  let h: { typ?: unknown; alg?: unknown };
  let claims: ClaimsData<User>;
  try {
    h = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if ((h.typ !== "jwt" && h.typ !== "JWT") || (h.alg !== "ed25519-nkey" && h.alg !== "ed25519"))
    return undefined;
  let issuer: ReturnType<typeof verifyingKey>;
  try {
    issuer = verifyingKey(String(claims.iss));
  } catch {
    return undefined;
  }
  const signed = h.alg === "ed25519-nkey" ? `${header}.${payload}` : payload;
  const ok = verifySignature(issuer, Buffer.from(signed), Buffer.from(signature, "base64url"));
  return ok ? claims : "unsigned";
}

/**
 * The NATS login of a creds file's text (`CredsFile.bytes`): its JWT, and the server's nonce signed with its seed by
 * node:crypto, as nats.js's `credsAuthenticator` does with its JavaScript Ed25519 (~10 ms a connect, cold).
 */
export function credsFileAuthenticator(bytes: Uint8Array): Authenticator {
  const blocks = credsBlocks(new TextDecoder().decode(bytes).replace(/\r\n/g, "\n"));
  const jwt = blocks.find((b) => b.begin === JWT_LABEL)?.content;
  const seed = blocks.find((b) => b.begin === SEED_LABEL)?.content;
  if (!jwt || !seed) throw new TypeError("not a NATS creds file: no user JWT or no user seed");
  const key: SigningKey = signingKeyFromSeed(seed);
  return (nonce?: string) => ({
    jwt,
    nkey: key.publicKey,
    sig: nonce ? Buffer.from(key.sign(new TextEncoder().encode(nonce))).toString("base64") : "",
  });
}

/**
 * Whether the creds' user may connect as `type` (a nats-server connection type: "STANDARD", "WEBSOCKET",
 * "LEAFNODE", "LEAFNODE_WS"…). No `allowed_connection_types` in the JWT allows every type.
 */
export function credsAllowConnectionType(creds: CredsFile, type: string): boolean {
  const allowed = creds.allowedConnectionTypes;
  return allowed === undefined || allowed.some((t) => t.toUpperCase() === type.toUpperCase());
}
