/**
 * NATS creds files (operator mode): a user JWT and the user's nkey seed in one owner-only file, as
 * `nsc` and `@nats-io/jwt` `fmtCreds` write them. Read and checked once, at the edge, so that a wrong,
 * expired or mixed-up file is named at load time rather than showing up as an authorisation error on
 * the wire.
 *
 * @example
 * const creds = await readCredsFile("/etc/tremesh/leaf-a.creds", { configFile: "leaf.yaml", field: "hub.credsFile" });
 * creds.account; // "AB…": the account the hub binds this user to
 * connect({ servers, authenticator: credsAuthenticator(creds.bytes) });
 */
import { readFile, stat } from "node:fs/promises";
import { type ClaimsData, decode, type User } from "@nats-io/jwt";
import { fromSeed } from "@nats-io/nkeys";
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
  /** SECRET: the file's text (JWT and seed, line ends normalised) for `credsAuthenticator`. Never log it. */
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

  const blocks = [...text.matchAll(BLOCK)].map((m) => ({ begin: m[1], content: m[2] ?? "", end: m[3] }));
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

  let claims: ClaimsData<User>;
  try {
    claims = decode<User>(jwt);
  } catch (cause) {
    // The library's messages may quote the token; say what is wrong without it.
    const signature = cause instanceof Error && /sig/i.test(cause.message);
    return fail(
      signature
        ? "has a user JWT whose signature does not verify"
        : "has a user JWT that is not a valid NATS JWT",
      cause,
    );
  }
  const type = claims.nats?.type ?? claims.type;
  if (type !== "user") fail(`holds ${type ? `an ${type}` : "a"} JWT, not a user JWT`);
  if (typeof claims.sub !== "string" || !claims.sub.startsWith("U"))
    fail("has a user JWT whose subject is not a user public key (U…)");

  let seedKey: string;
  try {
    const pair = fromSeed(new TextEncoder().encode(seed));
    seedKey = pair.getPublicKey();
    pair.clear();
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
 * Whether the creds' user may connect as `type` (a nats-server connection type: "STANDARD", "WEBSOCKET",
 * "LEAFNODE", "LEAFNODE_WS"…). No `allowed_connection_types` in the JWT allows every type.
 */
export function credsAllowConnectionType(creds: CredsFile, type: string): boolean {
  const allowed = creds.allowedConnectionTypes;
  return allowed === undefined || allowed.some((t) => t.toUpperCase() === type.toUpperCase());
}
