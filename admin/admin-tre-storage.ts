/**
 * `tremesh admin set-tre NAME --storage-mb N`: a TRE's hub account gets a new JetStream storage limit (its TASKS
 * queue and its results stream share it). The TRE account's JWT is signed again from federation.json and pushed,
 * so the hub applies the limit at once, without a restart and without touching the TRE's users or streams.
 */
import { renewTreJwt, treAccount } from "./admin-accounts.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import { pushAccountJwt, withHubAdmin } from "./admin-hub.js";
import type { AdminStore } from "./admin-store.js";

/** Sets the TRE's hub account storage to `storageBytes`; returns the limit it had before. */
export async function setTreStorage(
  store: AdminStore,
  name: string,
  storageBytes: number,
): Promise<{ tre: string; storageBytes: number; previousBytes: number | undefined }> {
  const state = await store.load();
  const tre = state.tres[name];
  if (!tre) throw new AdminError(`no TRE ${name}`, AdminErrorCode.failed);
  if (tre.revokedAt !== undefined)
    throw new AdminError(`TRE ${name} was revoked; its account takes no changes`, AdminErrorCode.failed);
  const previousBytes = tre.storageBytes;
  return withHubAdmin(store, state, async (sys) => {
    tre.storageBytes = storageBytes;
    const jwt = await renewTreJwt(store, state, name);
    await store.save(state);
    await pushAccountJwt(sys, treAccount(name), jwt);
    return { tre: name, storageBytes, previousBytes };
  });
}
