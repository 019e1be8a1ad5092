/**
 * hub.yaml's `operator` section (operator mode): the operator JWT, the account JWTs preloaded into the full
 * resolver, the hub services' creds and the folder of each TRE's operations creds, read and checked at start so that
 * a wrong file is named before nats-server runs.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { ConfigFileError, configPath, type LoadedYaml, readCredsFile } from "../common/index.js";
import { type Infer, obj, str } from "../protocol/index.js";
import { FED_ACCOUNT } from "./account-names.js";
import { type AccountJwtInfo, decodeAccountJwt, decodeOperatorJwt } from "./operator-server-config.js";

const path = str({ min: 1, max: 4096 });

/**
 * Operator mode: NATS JWT accounts in a full resolver instead of `admins`, `researchers` and `tres` (which must then
 * be absent). Member TREs are the registry's `tre.<name>` entries. Paths are relative to hub.yaml.
 */
export const operatorSectionSchema = obj({
  /** The operator JWT; its `system_account` is the hub's system account. */
  jwtFile: path,
  /** A folder of account JWTs (`*.jwt`), each issued by the operator; all preloaded on every start. */
  accountsDir: path,
  /** Creds (owner-only) of a FED-account user: the hub services connect as it. */
  servicesCredsFile: path,
  /**
   * A folder of `<tre>.creds` (owner-only): the hub's operations user in each TRE's account, which creates
   * and updates that TRE's TASKS and results streams. Read when the TRE joins; a missing one is retried.
   */
  treCredsDir: path,
});
type OperatorSection = Infer<typeof operatorSectionSchema>;

/** hub.yaml's `operator` section, read and checked. Holds a secret (`servicesCreds`). */
export interface HubOperatorConfig {
  /** The operator JWT's text. */
  jwt: string;
  /** The operator's public key (O…). */
  operatorKey: string;
  /** The system account's public key (A…), from the operator JWT. */
  systemAccount: string;
  /** Every account JWT of `accountsDir`, by account public key (the JWT's `sub`): the resolver's preload. */
  accounts: Record<string, string>;
  /** SECRET: the hub services' creds (a FED user), for `credsAuthenticator`. Never log it. */
  servicesCreds: Uint8Array;
  /** Absolute folder of `<tre>.creds`; each is read when its TRE joins. */
  treCredsDir: string;
}

/** Reads the operator section's files; every problem is a ConfigFileError naming the field and the file. */
export async function loadOperator(loaded: LoadedYaml, section: OperatorSection): Promise<HubOperatorConfig> {
  const fail = (field: string, problem: string, cause?: unknown): never => {
    throw new ConfigFileError(
      loaded.file,
      `operator.${field}`,
      problem,
      cause === undefined ? undefined : { cause },
    );
  };
  const jwtPath = configPath(loaded, section.jwtFile);
  const jwt = (
    await readFile(jwtPath, "utf8").catch((e: unknown) => fail("jwtFile", unreadable(section.jwtFile, e), e))
  ).trim();
  let operator: ReturnType<typeof decodeOperatorJwt>;
  try {
    operator = decodeOperatorJwt(jwt);
  } catch (cause) {
    return fail("jwtFile", `${section.jwtFile} ${(cause as Error).message}`, cause);
  }
  const systemAccount =
    operator.systemAccount ?? fail("jwtFile", `${section.jwtFile} names no system account`);

  const accountsDir = configPath(loaded, section.accountsDir);
  const files = (
    await readdir(accountsDir).catch((e: unknown) =>
      fail("accountsDir", unreadable(section.accountsDir, e), e),
    )
  )
    .filter((f) => f.endsWith(".jwt"))
    .sort();
  const accounts: Record<string, string> = {};
  const infos = new Map<string, AccountJwtInfo & { file: string }>();
  for (const f of files) {
    const shown = join(section.accountsDir, f);
    const text = (
      await readFile(join(accountsDir, f), "utf8").catch((e: unknown) =>
        fail("accountsDir", unreadable(shown, e), e),
      )
    ).trim();
    let info: AccountJwtInfo;
    try {
      info = decodeAccountJwt(text, operator.accountIssuers);
    } catch (cause) {
      return fail("accountsDir", `${shown} ${(cause as Error).message}`, cause);
    }
    const other = infos.get(info.account);
    if (other) fail("accountsDir", `${shown} and ${other.file} both hold account ${info.account}`);
    infos.set(info.account, { ...info, file: shown });
    accounts[info.account] = text;
  }
  if (accounts[systemAccount] === undefined)
    fail("accountsDir", `${section.accountsDir} has no JWT of the system account ${systemAccount}`);

  const creds = await readCredsFile(configPath(loaded, section.servicesCredsFile), {
    configFile: loaded.file,
    field: "operator.servicesCredsFile",
  });
  const servicesAccount = infos.get(creds.account);
  if (servicesAccount?.name !== FED_ACCOUNT) {
    fail(
      "servicesCredsFile",
      `${section.servicesCredsFile} is a user of ${servicesAccount ? `account ${servicesAccount.name}` : `account ${creds.account}, which is not in accountsDir`}, not of ${FED_ACCOUNT}`,
    );
  }
  return {
    jwt,
    operatorKey: operator.operatorKey,
    systemAccount,
    accounts,
    servicesCreds: creds.bytes,
    treCredsDir: configPath(loaded, section.treCredsDir),
  };
}

function unreadable(path: string, error: unknown): string {
  return `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? error})`;
}
