/**
 * Revoking a TRE or a researcher in operator mode, and pushing the folder's account JWTs again: a revocation
 * goes into the account claims (so the hub drops the connections at once) and into the registry (so the hub
 * stops trusting the signing key), in that order.
 */
import { readdir } from "node:fs/promises";
import { relative } from "node:path";
import { renewFedJwt, renewResearchJwt, renewTreJwt, treAccount } from "./admin-accounts.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import { pushAccountJwt, withHubAdmin } from "./admin-hub.js";
import { allProjects } from "./admin-projects.js";
import { type AccountName, type AdminStore, nowSeconds } from "./admin-store.js";

/**
 * `tremesh admin revoke researcher NAME`: the connection user goes into RESEARCH's revocations (pushed: its open
 * connections are closed and new ones refused) and the signing key is revoked in the registry (its next
 * Submission is refused, whatever connection carries it).
 */
export async function revokeResearcher(
  store: AdminStore,
  name: string,
): Promise<{ alreadySince: number | undefined }> {
  const state = await store.load();
  const researcher = state.researchers[name];
  if (!researcher) throw new AdminError(`no researcher ${name}`, AdminErrorCode.failed);
  // Revoking again pushes the revocation again (the way to finish one whose push failed), and says it was there.
  const alreadySince = researcher.revokedAt;
  await withHubAdmin(store, state, async (sys, registry) => {
    researcher.revokedAt ??= nowSeconds();
    const jwt = await renewResearchJwt(store, state);
    await store.save(state);
    await pushAccountJwt(sys, "RESEARCH", jwt);
    const entry = await registry.researcher(name);
    if (entry && entry.revoked === undefined) await registry.putResearcher({ ...entry, revoked: Date.now() });
  });
  return { alreadySince };
}

/**
 * `tremesh admin revoke tre NAME`: every user of the TRE's account is revoked (its leaf link drops at once and
 * cannot return), FED stops importing from it, the registry marks it revoked (the hub no longer trusts its
 * signature or sources its results) and it leaves every project.
 */
export async function revokeTre(
  store: AdminStore,
  name: string,
): Promise<{ projects: string[]; alreadySince: number | undefined }> {
  const state = await store.load();
  const tre = state.tres[name];
  if (!tre) throw new AdminError(`no TRE ${name}`, AdminErrorCode.failed);
  const alreadySince = tre.revokedAt;
  return withHubAdmin(store, state, async (sys, registry) => {
    tre.revokedAt ??= nowSeconds();
    const treJwt = await renewTreJwt(store, state, name);
    const fedJwt = await renewFedJwt(store, state);
    await store.save(state);
    await pushAccountJwt(sys, "FED", fedJwt);
    await pushAccountJwt(sys, treAccount(name), treJwt);
    const entry = await registry.tre(name);
    if (entry && entry.revoked === undefined) await registry.putTre({ ...entry, revoked: Date.now() });
    const projects: string[] = [];
    for (const project of await allProjects(registry)) {
      if (!project.tres.includes(name)) continue;
      await registry.updateProject(project.name, (p) => ({ ...p, tres: p.tres.filter((t) => t !== name) }));
      projects.push(project.name);
    }
    return { projects, alreadySince };
  });
}

/** `tremesh admin push`: every account JWT in accounts/ to the hub again (after a push failed, or to check). */
export async function pushAll(store: AdminStore): Promise<string[]> {
  const state = await store.load();
  return withHubAdmin(store, state, async (sys) => {
    const files = (await readdir(store.path("accounts"))).filter((f) => f.endsWith(".jwt")).sort();
    // TRE accounts before FED, which imports from them.
    files.sort((a, b) => Number(a === "FED.jwt") - Number(b === "FED.jwt"));
    for (const file of files) {
      const account = file.slice(0, -".jwt".length) as AccountName;
      await pushAccountJwt(sys, account, await store.accountJwt(account));
    }
    return files.map((f) => relative(store.dir, store.path("accounts", f)));
  });
}
