/**
 * Connection profiles: how a CLI user reaches the hub (researchers, admins) or, for a TRE's reviewers, their
 * TRE's leaf. A small YAML file per person, naming the server URL (`hub:` or `leaf:`), the connection user and
 * the files holding its password and (for researchers and reviewers) signing seed. Given with
 * `--profile FILE` or the `TREMESH_PROFILE` environment variable.
 *
 * On a server in operator mode the login is a NATS creds file (`credsFile`, the user's JWT and seed) instead of
 * `user` + `passwordFile`; `user` may then be left out and defaults to the JWT's name.
 *
 * @example
 * # alice.profile.yaml
 * hub: tls://hub.example.org:4222
 * caFile: ./federation-ca.crt             # pinned: the hub's certificate must chain to it
 * user: alice
 * passwordFile: ./secrets/alice.password
 * signingKeyFile: ./secrets/alice.seed
 *
 * # alice.profile.yaml, hub in operator mode
 * hub: tls://hub.example.org:4222
 * caFile: ./federation-ca.crt
 * credsFile: ./secrets/alice.creds
 * signingKeyFile: ./secrets/alice.seed
 */
import {
  AuthorizationError,
  connect,
  type NatsConnection,
  UserAuthenticationExpiredError,
} from "@nats-io/transport-node";
import {
  type ClientTlsFiles,
  ConfigFileError,
  type CredsFile,
  clientTlsOptions,
  credsFileAuthenticator,
  isLeafnodeInfo,
  type LoadedYaml,
  plaintextProblem,
  readClientTls,
  readLogin,
  readNatsInfo,
  readSigningKeyFile,
  readYamlConfig,
  SERVICE_CONNECTION,
  userPublicKey,
  validateConfig,
} from "../common/index.js";
import {
  bool,
  type Infer,
  obj,
  optional,
  PROJECT_NAME,
  record,
  type SigningKey,
  str,
  subjects,
  TRE_NAME,
} from "../protocol/index.js";
import { CliError, ExitCode } from "./exit-codes.js";

const profileSchema = obj({
  /** The hub's client URL (researchers, admins); for a clustered hub, every node's URL separated by commas. */
  hub: optional(str({ min: 1, max: 2048 })),
  /** A TRE leaf's client URL (that TRE's reviewers). */
  leaf: optional(str({ min: 1, max: 2048 })),
  /** With `leaf`: the TRE's name, which the reviewer's signed requests name. */
  tre: optional(str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" })),
  /** The login's user name. Required with `passwordFile`; with `credsFile`, defaults to the JWT's name. */
  user: optional(str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a user name" })),
  /** The password of `user` (a server in config mode). */
  passwordFile: optional(str({ min: 1, max: 4096 })),
  /** Instead of `passwordFile`, on a server in operator mode: the user's NATS creds file (JWT and seed). */
  credsFile: optional(str({ min: 1, max: 4096 })),
  signingKeyFile: optional(str({ min: 1, max: 4096 })),
  /**
   * The federation CA's certificate (PEM), pinned: required with `tls://` URLs, whose server must present a
   * certificate chaining to it and naming the URL's host. From the onboarding bundle.
   */
  caFile: optional(str({ min: 1, max: 4096 })),
  /** Allow a plaintext URL to a non-loopback server. Default false; only for a network trusted completely. */
  insecure: optional(bool()),
  /**
   * A researcher's pinned TRE signing keys (TRE name → public key), from each TRE's operator. Releases are
   * verified against these; a TRE not listed here is verified with the key the hub reports, trusting the hub.
   */
  treKeys: optional(
    record(str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" }), userPublicKey, { max: 10_000 }),
  ),
});

/** A loaded profile. Holds secrets: never log it. */
export interface Profile {
  file: string;
  /** Which server the profile reaches. */
  server: "hub" | "leaf";
  /** The URL(s) as the profile gives them, for messages. */
  url: string;
  /** The servers to try, in any order (a clustered hub has several). */
  servers: string[];
  /** For a leaf profile: the TRE. */
  tre?: string;
  /** Pinned TRE signing keys, by TRE. */
  treKeys: Record<string, string>;
  /** The login's name; a researcher's or reviewer's also names their reply inbox. */
  user: string;
  auth: ProfileAuth;
  key?: SigningKey;
  /** The pinned CA: the connection is TLS. */
  tls?: ClientTlsFiles;
}

/** How a profile logs in: a password (server in config mode) or a checked creds file (operator mode). */
export type ProfileAuth = { type: "password"; password: string } | { type: "creds"; creds: CredsFile };

const PROFILE_ENV = "TREMESH_PROFILE";

export async function loadProfile(file: string | undefined): Promise<Profile> {
  const path = file ?? process.env[PROFILE_ENV];
  if (!path) throw new CliError(`no profile: give --profile FILE or set ${PROFILE_ENV}`, ExitCode.usage);
  try {
    const loaded = await readYamlConfig(path);
    const p = validateConfig(loaded, profileSchema);
    if ((p.hub === undefined) === (p.leaf === undefined))
      throw new ConfigFileError(
        path,
        "hub",
        "give exactly one of `hub` (a hub URL) or `leaf` (a TRE leaf URL)",
      );
    if (p.leaf !== undefined && p.tre === undefined)
      throw new ConfigFileError(path, "tre", "is required with `leaf`: the TRE this leaf belongs to");
    const url = p.hub ?? p.leaf ?? "";
    const servers = url
      .split(",")
      .map((u) => u.trim())
      .filter((u) => u !== "");
    const tls = p.caFile === undefined ? undefined : await readClientTls(loaded, { caFile: p.caFile }, "");
    const field = p.hub === undefined ? "leaf" : "hub";
    for (const server of servers) {
      // nats.js takes host:port without a scheme as nats://; anything else that is no URL only fails at connect.
      if (!URL.canParse(server.includes("://") ? server : `nats://${server}`))
        throw new ConfigFileError(path, field, `${server} is not a URL (tls://host:port)`);
      const problem = plaintextProblem(server, tls ?? {}, p.insecure, {
        caFile: "caFile",
        insecure: "insecure",
      });
      if (problem !== undefined) throw new ConfigFileError(path, field, problem);
    }
    const { user, auth } = await profileLogin(loaded, p, url);
    const key = p.signingKeyFile
      ? await readSigningKeyFile(loaded, "signingKeyFile", p.signingKeyFile)
      : undefined;
    return {
      file: path,
      server: p.hub === undefined ? "leaf" : "hub",
      url,
      servers,
      ...(tls ? { tls } : {}),
      ...(p.tre ? { tre: p.tre } : {}),
      treKeys: p.treKeys ?? {},
      user,
      auth,
      ...(key ? { key } : {}),
    };
  } catch (cause) {
    if (cause instanceof ConfigFileError) throw new CliError(cause.message, ExitCode.badInput, { cause });
    throw cause;
  }
}

/**
 * The profile's login, in exactly one form: `user` + `passwordFile`, or `credsFile` (with an optional `user`). A
 * creds file is checked now, including that its JWT lets the user connect as a client.
 */
async function profileLogin(
  loaded: LoadedYaml,
  p: Infer<typeof profileSchema>,
  url: string,
): Promise<{ user: string; auth: ProfileAuth }> {
  const login = await readLogin(loaded, p, {
    prefix: "",
    connectionTypes: [/^wss?:/i.test(url) ? "WEBSOCKET" : "STANDARD"],
    connectsAs: "a client",
    needs: "this needs",
    userWithCreds: true,
  });
  if (login.type === "password")
    return { user: login.user, auth: { type: "password", password: login.password } };
  const { creds } = login;
  return { user: login.user ?? (creds.name || creds.userKey), auth: { type: "creds", creds } };
}

/** The profile's signing key, or a clear error for a profile without one (an admin's). */
export function signingKey(profile: Profile): SigningKey {
  if (!profile.key) {
    throw new CliError(
      `${profile.file}: this command needs signingKeyFile (a researcher's key)`,
      ExitCode.badInput,
    );
  }
  return profile.key;
}

/**
 * Connects with the profile. Researchers' and reviewers' replies come on their own inbox prefix (the hub and the
 * leaf allow them no other).
 */
export async function connectProfile(profile: Profile, timeoutMs = 5_000): Promise<NatsConnection> {
  try {
    return await connect({
      servers: profile.servers,
      ...(profile.tls ? { tls: clientTlsOptions(profile.tls, profile.servers) } : {}),
      ...(profile.auth.type === "password"
        ? { user: profile.user, pass: profile.auth.password }
        : { authenticator: credsFileAuthenticator(profile.auth.creds.bytes) }),
      name: `tremesh-cli-${profile.user}`,
      // A request's failure is told in words, never by its stack: no stack is captured for every request.
      ...SERVICE_CONNECTION,
      timeout: timeoutMs,
      maxReconnectAttempts: 0,
      ...(PROJECT_NAME.test(profile.user) ? { inboxPrefix: subjects.researcherInbox(profile.user) } : {}),
    });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    // A revoked or unknown creds user, a wrong password and an expired JWT all come back as one of these.
    const refused =
      cause instanceof AuthorizationError ||
      cause instanceof UserAuthenticationExpiredError ||
      /authoriz|authentic/i.test(message);
    // A certificate this profile does not accept, or TLS it does not speak, is no outage: say which file decides it.
    const code = (cause as { code?: unknown }).code ?? (cause as { cause?: { code?: unknown } }).cause?.code;
    const tlsProblem =
      (typeof code === "string" && /CERT|TLS|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) ||
      /certificate|altnames|self.signed|\btls\b/i.test(message);
    // A server that answers a TLS handshake in plaintext (a monitoring or web port, another service) is no outage:
    // the URL names the wrong port. OpenSSL's own line ("ssl3_get_record:wrong version number") says nothing to a person.
    if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || /wrong version number/i.test(message))
      throw new CliError(
        `${profile.url} did not answer in TLS: it is not the ${profile.server}'s client port; check \`${profile.server}\` in ${profile.file} (the onboarding bundle's profile has the URL)`,
        ExitCode.badInput,
        { cause },
      );
    if (tlsProblem && profile.tls === undefined)
      throw new CliError(
        `the ${profile.server} at ${profile.url} requires TLS (${message}): use a tls:// URL with caFile, the federation's CA, as the onboarding bundle's profile does`,
        ExitCode.refused,
        { cause },
      );
    if (tlsProblem)
      throw new CliError(
        `the ${profile.server} at ${profile.url} presented a TLS certificate this profile does not accept (${message}): check that ${profile.file}'s caFile is the federation's CA and that the URL names a host the certificate carries`,
        ExitCode.refused,
        { cause },
      );
    // A hub's leafnode port refuses a client's login as any wrong password is refused ("Authorization Violation"):
    // its greeting, read again without logging in, tells the port apart from a refusal of the user.
    if (refused && isLeafnodeInfo(await readNatsInfo(profile.url, profile.tls)))
      throw new CliError(
        `${profile.url} looks like the hub's leafnode port, where TREs' leaf nodes link, not a client port: ${
          profile.server === "hub"
            ? "researchers and the federation admin connect to the hub's client port (hub.yaml `ports.client`, 4222 unless set)"
            : "reviewers connect to their TRE's leaf client port (leaf.yaml `ports.client`)"
        }; check \`${profile.server}\` in ${profile.file} (the onboarding bundle's profile has the URL)`,
        ExitCode.badInput,
        { cause },
      );
    throw new CliError(
      refused
        ? `the ${profile.server} at ${profile.url} refused ${profile.user}: ${message}; ${
            profile.server === "hub"
              ? "check that the profile's creds are the ones the federation admin gave you, or ask the admin whether your access was revoked"
              : "check the profile's user and password with the TRE's operator"
          }`
        : `cannot reach the ${profile.server} at ${profile.url}: ${message}; ${
            profile.server === "hub"
              ? `is the hub up (try again later), and is \`hub\` in ${profile.file} its client URL?`
              : `is the TRE's leaf running, and is \`leaf\` in ${profile.file} its client URL?`
          }`,
      refused ? ExitCode.refused : ExitCode.unavailable,
      { cause },
    );
  }
}
