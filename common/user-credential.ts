import { ConfigModelError } from "./config-model-error.js";

/** A nats-server user/password pair (config mode). Passwords come from `randomPassword()`. */
export interface UserCredential {
  user: string;
  password: string;
}

/** A credential and where it sits in a config model, for error messages. */
export interface PlacedCredential {
  field: string;
  credential: UserCredential;
}

/** User names end up in URLs and logs; keep them plain so neither needs escaping to read. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** Refuse obviously weak passwords: these guard links between organisations. */
export const MIN_PASSWORD_LENGTH = 16;

/**
 * Checks the credentials of one nats-server user table (all client users of a server across its
 * accounts, or all its leafnode users): well-formed, strong enough, and no user name twice — in
 * config mode one name cannot live in two accounts.
 */
export function checkCredentials(placed: readonly PlacedCredential[]): void {
  const seen = new Map<string, string>();
  for (const { field, credential } of placed) {
    if (!USER_NAME.test(credential.user)) {
      throw new ConfigModelError(
        `${field}.user`,
        `not a valid user name: ${JSON.stringify(credential.user)}`,
      );
    }
    if (credential.password.length < MIN_PASSWORD_LENGTH) {
      throw new ConfigModelError(`${field}.password`, `shorter than ${MIN_PASSWORD_LENGTH} characters`);
    }
    const other = seen.get(credential.user);
    if (other !== undefined) {
      throw new ConfigModelError(
        `${field}.user`,
        `user ${JSON.stringify(credential.user)} is also used by \`${other}\``,
      );
    }
    seen.set(credential.user, field);
  }
}

/** Places each credential of a list under `field[i]`. */
export function placeAll(field: string, credentials: readonly UserCredential[]): PlacedCredential[] {
  return credentials.map((credential, i) => ({ field: `${field}[${i}]`, credential }));
}
