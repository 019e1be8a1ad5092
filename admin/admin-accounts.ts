/**
 * The account JWTs the admin re-signs when membership changes, kept in accounts/ for the hub to preload: each
 * is rebuilt whole from federation.json, so a JWT never drifts from the folder's record of who is in and who
 * was revoked.
 */
import { fedAccountJwt, researchAccountJwt, treAccountJwt, treAccountName } from "../hub/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import type { AccountName, AdminStore, FederationState } from "./admin-store.js";

/** Every TRE not revoked, in name order. */
export function activeTres(state: FederationState): [string, FederationState["tres"][string]][] {
  return Object.entries(state.tres)
    .filter(([, t]) => t.revokedAt === undefined)
    .sort(([a], [b]) => a.localeCompare(b));
}

/** A TRE account's file name in keys/ and accounts/: its name on a config-mode hub. */
export const treAccount = (tre: string) => treAccountName(tre) as AccountName;

/** FED's JWT for the current TREs: it imports from each active TRE's account only. */
export async function renewFedJwt(store: AdminStore, state: FederationState): Promise<string> {
  const tres = [];
  for (const [tre] of activeTres(state)) tres.push({ tre, account: await store.seed(treAccount(tre)) });
  const jwt = await fedAccountJwt(await store.seed("operator"), {
    account: await store.seed("FED"),
    research: state.accounts.research,
    tres,
  });
  await store.saveAccountJwt("FED", jwt);
  return jwt;
}

/** RESEARCH's JWT with every revoked researcher's connection user in its revocations. */
export async function renewResearchJwt(store: AdminStore, state: FederationState): Promise<string> {
  const revocations = Object.fromEntries(
    Object.values(state.researchers)
      .filter((r) => r.revokedAt !== undefined)
      .map((r) => [r.user, r.revokedAt as number]),
  );
  const jwt = await researchAccountJwt(await store.seed("operator"), {
    account: state.accounts.research,
    fed: await store.seed("FED"),
    revocations,
  });
  await store.saveAccountJwt("RESEARCH", jwt);
  return jwt;
}

export async function renewTreJwt(store: AdminStore, state: FederationState, tre: string): Promise<string> {
  const t = state.tres[tre];
  if (!t) throw new AdminError(`no TRE ${tre}`, AdminErrorCode.failed);
  const jwt = await treAccountJwt(await store.seed("operator"), {
    tre,
    account: t.account,
    fed: state.accounts.fed,
    storageBytes: t.storageBytes,
    ...(t.revokedAt === undefined ? {} : { revocations: { "*": t.revokedAt } }),
  });
  await store.saveAccountJwt(treAccount(tre), jwt);
  return jwt;
}
