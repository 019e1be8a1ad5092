/**
 * The config models of a federation on one machine (the test mesh): one hub, one leaf per
 * TRE, fresh random passwords every time, and one known user per account so the tests can
 * connect anywhere.
 */
import { join } from "node:path";
import { randomPassword, type UserCredential } from "../../common/index.js";
import { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT } from "../../hub/account-names.js";
import { treAccountName } from "../../hub/index.js";
import type { HubServerModel } from "../../hub/server-config.js";
import { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "../../leaf/account-names.js";
import type { LeafServerModel } from "../../leaf/server-config.js";

export type LeafAccount = typeof DMZ_ACCOUNT | typeof CTRL_ACCOUNT | typeof LEAF_SYSTEM_ACCOUNT;

export function credential(user: string): UserCredential {
  return { user, password: randomPassword() };
}

/** Hub model plus, per hub account, the user the harness connects as. */
export function meshHubModel(
  token: string,
  dir: string,
  tres: readonly string[],
): { model: HubServerModel; users: Map<string, UserCredential> } {
  const users = new Map<string, UserCredential>([
    [HUB_SYSTEM_ACCOUNT, credential("sys")],
    [FED_ACCOUNT, credential("fed")],
  ]);
  for (const tre of tres) users.set(treAccountName(tre), credential(`admin-${tre}`));
  const model: HubServerModel = {
    serverName: `hub-${token}`,
    storeDir: join(dir, "hub", "jetstream"),
    system: users.get(HUB_SYSTEM_ACCOUNT)!,
    fed: { users: [users.get(FED_ACCOUNT)!] },
    tres: tres.map((name) => ({
      name,
      leaf: credential(`leaf-${name}`),
      users: [users.get(treAccountName(name))!],
    })),
  };
  return { model, users };
}

/** Leaf model for `tre`, dialling the hub's leafnode URL with that TRE's credential. */
export function meshLeafModel(
  token: string,
  dir: string,
  tre: string,
  hubLeafUrl: string,
  leafCredential: UserCredential,
): { model: LeafServerModel; users: Map<LeafAccount, UserCredential> } {
  const users = new Map<LeafAccount, UserCredential>([
    [LEAF_SYSTEM_ACCOUNT, credential("sys")],
    [DMZ_ACCOUNT, credential("agent-dmz")],
    [CTRL_ACCOUNT, credential("agent-ctrl")],
  ]);
  const model: LeafServerModel = {
    tre,
    serverName: `leaf-${tre}-${token}`,
    storeDir: join(dir, `leaf-${tre}`, "jetstream"),
    system: users.get(LEAF_SYSTEM_ACCOUNT)!,
    dmz: { users: [users.get(DMZ_ACCOUNT)!] },
    ctrl: { users: [users.get(CTRL_ACCOUNT)!] },
    hub: { urls: [hubLeafUrl], credential: leafCredential },
  };
  return { model, users };
}
