/**
 * A login to a nats-server, as a config file gives it: `user` + `passwordFile` (config mode), or `credsFile`
 * (operator mode). leaf.yaml's hub link and the CLI's profiles both take exactly one of the two forms; this is
 * the one place that rule and its messages live.
 */
import { ConfigFileError, configPath, type LoadedYaml, readSecretFile } from "./config-file.js";
import { type CredsFile, credsAllowConnectionType, readCredsFile } from "./creds-file.js";

export interface LoginFields {
  user?: string | undefined;
  passwordFile?: string | undefined;
  credsFile?: string | undefined;
}

export interface LoginRules {
  /** Where the fields sit in the file, e.g. "hub." (leaf.yaml) or "" (a profile). */
  prefix: string;
  /** Connection types the creds' JWT must allow, e.g. ["LEAFNODE"]. */
  connectionTypes: readonly string[];
  /** For the refusal: what the login connects as ("a client") and who needs it ("the link needs"). */
  connectsAs: string;
  needs: string;
  /** Whether `user` may accompany `credsFile` (a profile names its inbox with it); otherwise it is refused. */
  userWithCreds: boolean;
}

export type Login =
  | { type: "password"; user: string; password: string }
  | { type: "creds"; creds: CredsFile; user?: string };

/**
 * Reads the login in `fields`: a creds file is read and checked now (owner-only, a valid unexpired user JWT
 * with its seed, the connection types allowed), a password file too. Throws ConfigFileError naming the field.
 */
export async function readLogin(loaded: LoadedYaml, fields: LoginFields, rules: LoginRules): Promise<Login> {
  const file = loaded.file;
  const p = rules.prefix;
  if (fields.credsFile !== undefined) {
    if (fields.passwordFile !== undefined || (!rules.userWithCreds && fields.user !== undefined)) {
      throw new ConfigFileError(
        file,
        `${p}credsFile`,
        `give either \`${p}credsFile\` or \`${p}user\` with \`${p}passwordFile\`, not both`,
      );
    }
    const path = configPath(loaded, fields.credsFile);
    const creds = await readCredsFile(path, { configFile: file, field: `${p}credsFile` });
    const missing = rules.connectionTypes.filter((type) => !credsAllowConnectionType(creds, type));
    if (missing.length > 0) {
      throw new ConfigFileError(
        file,
        `${p}credsFile`,
        `${path}: user ${JSON.stringify(creds.name)} may not connect as ${rules.connectsAs} (its JWT allows connection types ${(creds.allowedConnectionTypes ?? []).join(", ")}; ${rules.needs} ${missing.join(", ")})`,
      );
    }
    return { type: "creds", creds, ...(fields.user === undefined ? {} : { user: fields.user }) };
  }
  if (fields.user === undefined) {
    throw new ConfigFileError(
      file,
      `${p}user`,
      fields.passwordFile === undefined
        ? `is required: give \`${p}user\` with \`${p}passwordFile\`, or \`${p}credsFile\``
        : `is required with \`${p}passwordFile\``,
    );
  }
  if (fields.passwordFile === undefined) {
    throw new ConfigFileError(
      file,
      `${p}passwordFile`,
      `is required with \`${p}user\` (or give \`${p}credsFile\`${rules.userWithCreds ? "" : " alone"})`,
    );
  }
  return {
    type: "password",
    user: fields.user,
    password: await readSecretFile(loaded, `${p}passwordFile`, fields.passwordFile),
  };
}
