/**
 * The hub's nats-server config in operator mode (`hubOperatorServerConfig`): the operator JWT is trusted,
 * accounts are JWTs in a full resolver (claims pushed over `$SYS.REQ.CLAIMS.UPDATE` take effect without a
 * restart), and every client and leaf link authenticates with a user JWT its account signed
 * (operator-claims.ts says what each holds). Kept apart from config mode because no user's secret is in it
 * (only a clustered node's route password): what it must get right is which JWTs it trusts, so the JWT checks
 * live here too.
 */

import { type Account, type ClaimsData, decode, type Operator } from "@nats-io/jwt";
import { ConfigModelError, toNatsConf } from "../common/index.js";
import { isPublicKey } from "../protocol/index.js";
import { type HubListeners, leafnodeListener, listenerBlock, SERVER_NAME } from "./server-config.js";

export interface HubOperatorServerModel extends HubListeners {
  /** The operator JWT's text (self-signed). nats-server trusts every account it signed. */
  operatorJwt: string;
  /** The system account's public key (A…); must be the operator JWT's `system_account` when it names one. */
  systemAccount: string;
  /** The full resolver's JWT store (e.g. `<dataDir>/resolver`); nats-server creates it. */
  resolverDir: string;
  /**
   * Account JWTs by account public key, written into the resolver on every start. Must hold the system
   * account's. The full resolver keeps a stored JWT whose `iat` is newer than the preloaded one, so a claim
   * pushed since (a revocation, a new import) survives the restart.
   */
  preload: Readonly<Record<string, string>>;
}

/**
 * Renders the hub config text in operator mode. Throws ConfigModelError for a bad model (a JWT that does not
 * verify, an account not issued by the operator, a preload keyed by the wrong account…). Holds no secret but
 * a clustered node's route password.
 *
 * The leafnode listener has no `authorization` block: in operator mode a leaf link presents a user JWT, nats-server
 * binds the link to the account that signed it (only TRE accounts allow a leaf connection), and an anonymous leaf
 * is refused.
 *
 * @example
 * const text = hubOperatorServerConfig({ serverName: "hub", storeDir, operatorJwt, systemAccount, resolverDir, preload });
 */
export function hubOperatorServerConfig(model: HubOperatorServerModel): string {
  checkOperatorModel(model);
  return toNatsConf({
    ...listenerBlock(model),
    operator: model.operatorJwt,
    system_account: model.systemAccount,
    resolver: {
      type: "full",
      dir: model.resolverDir,
      // Removing an account is a revocation (`*` in its own JWT), never a file deletion.
      allow_delete: false,
      interval: "2m",
      timeout: "2s",
    },
    resolver_preload: { ...model.preload },
    leafnodes: leafnodeListener(model),
  });
}

/** What the hub takes from an operator JWT. */
export interface OperatorJwtInfo {
  /** The operator's public key (O…). */
  operatorKey: string;
  /** Keys that may sign account JWTs: the operator's own and its signing keys. */
  accountIssuers: string[];
  /** The JWT's `system_account`, when it names one. */
  systemAccount?: string;
}

/** Decodes and checks an operator JWT (signature, type, self-signed). Throws an Error whose message is the problem. */
export function decodeOperatorJwt(jwt: string): OperatorJwtInfo {
  const claims = decodeJwt<Operator>(jwt, "operator");
  if (!claims.sub.startsWith("O") || claims.iss !== claims.sub)
    throw new Error("is not a self-signed operator JWT");
  const signingKeys = (claims.nats.signing_keys ?? []).map((k) => (typeof k === "string" ? k : k.key));
  const system = claims.nats.system_account;
  return {
    operatorKey: claims.sub,
    accountIssuers: [claims.sub, ...signingKeys],
    ...(typeof system === "string" && system !== "" ? { systemAccount: system } : {}),
  };
}

/** What the hub takes from an account JWT. */
export interface AccountJwtInfo {
  /** The account's public key (A…): the JWT's `sub`. */
  account: string;
  /** The JWT's `name` (e.g. "FED", "TRE_a"). */
  name: string;
  /** Issued at, seconds since the epoch. */
  iat: number;
}

/** Decodes and checks an account JWT signed by one of `issuers`. Throws an Error whose message is the problem. */
export function decodeAccountJwt(jwt: string, issuers: readonly string[]): AccountJwtInfo {
  const claims = decodeJwt<Account>(jwt, "account");
  if (!isAccountKey(claims.sub))
    throw new Error("is an account JWT whose subject is not an account key (A…)");
  if (!issuers.includes(claims.iss))
    throw new Error(`is an account JWT not issued by the operator (${claims.iss})`);
  return { account: claims.sub, name: claims.name ?? "", iat: claims.iat };
}

/** Whether `key` is an nkey account public key (A…). */
function isAccountKey(key: string): boolean {
  return key.length === 56 && key.startsWith("A") && isPublicKey(key);
}

function decodeJwt<T>(jwt: string, type: "operator" | "account"): ClaimsData<T> {
  let claims: ClaimsData<T>;
  try {
    claims = decode<T>(jwt.trim());
  } catch {
    // The library's messages may quote the token; say what is wrong without it.
    throw new Error("is not a NATS JWT whose signature verifies");
  }
  const actual = (claims.nats as { type?: unknown } | undefined)?.type ?? claims.type;
  if (actual !== type)
    throw new Error(`is ${typeof actual === "string" ? `an ${actual}` : "a"} JWT, not an ${type} JWT`);
  if (typeof claims.sub !== "string" || typeof claims.iss !== "string")
    throw new Error("has no subject or issuer");
  return claims;
}

function checkOperatorModel(model: HubOperatorServerModel): void {
  if (!SERVER_NAME.test(model.serverName)) {
    throw new ConfigModelError("serverName", `not a valid server name: ${JSON.stringify(model.serverName)}`);
  }
  if (model.storeDir === "") throw new ConfigModelError("storeDir", "empty");
  if (model.resolverDir === "") throw new ConfigModelError("resolverDir", "empty");
  let operator: OperatorJwtInfo;
  try {
    operator = decodeOperatorJwt(model.operatorJwt);
  } catch (cause) {
    throw new ConfigModelError("operatorJwt", (cause as Error).message, { cause });
  }
  if (!isAccountKey(model.systemAccount)) {
    throw new ConfigModelError("systemAccount", "not an nkey account public key (A…)");
  }
  if (operator.systemAccount !== undefined && operator.systemAccount !== model.systemAccount) {
    throw new ConfigModelError(
      "systemAccount",
      `${model.systemAccount} is not the operator JWT's system account ${operator.systemAccount}`,
    );
  }
  for (const [key, jwt] of Object.entries(model.preload)) {
    const field = `preload.${key}`;
    if (!isAccountKey(key)) throw new ConfigModelError(field, "not an nkey account public key (A…)");
    let info: AccountJwtInfo;
    try {
      info = decodeAccountJwt(jwt, operator.accountIssuers);
    } catch (cause) {
      throw new ConfigModelError(field, (cause as Error).message, { cause });
    }
    if (info.account !== key) throw new ConfigModelError(field, `holds the JWT of account ${info.account}`);
  }
  if (model.preload[model.systemAccount] === undefined) {
    throw new ConfigModelError("preload", "needs the system account's JWT");
  }
}
