/**
 * `tremesh admin rotate-hub-key`: the admin's side of changing the hub's signing key without a task refused on the
 * way. Every leaf pins the hub's key (leaf.yaml `hub.publicKey`), so the change goes in two steps:
 *
 * 1. `--seed-file NEW` records NEW's public key as the hub's next key (federation.json `hub.nextSigningKey`). Every
 *    TRE pins it beside the current one (`hub.nextPublicKey`); then the hub nodes sign with NEW. A leaf pinning both
 *    takes a Dispatch signed by either, so the tasks queued before the switch still arrive.
 * 2. `--finish`, once the old key's Dispatches have reached their TREs: NEW becomes `hub.signingKey`, and each TRE
 *    pins it alone.
 *
 * Meanwhile `add-tre` bundles pin both keys, and `add-tre`/`add-researcher` refuse either as a party's key (the old
 * one after the change too, as `rotate-hub-key` does). Nothing here reaches the hub: the hub signs with the seed its
 * hub.yaml names, which its operator switches.
 */
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import {
  exposedSecretProblem,
  InputFileError,
  isSystemError,
  isUserPublicKey,
  readBoundedFile,
  systemErrorTold,
} from "../common/index.js";
import { KeyFormatError, signingKeyFromSeed } from "../protocol/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import { checkKeyUnused } from "./admin-onboard.js";
import type { AdminStore } from "./admin-store.js";

/** A hub key change as it stands: the key the hub signs with until the switch, and the next one. */
export interface HubKeyChange {
  current: string;
  next: string;
  /** The next key's seed, absolute: what every hub node's hub.yaml `signingKeyFile` is to name at the switch. */
  seedFile: string;
  /** The same change was begun before: nothing changed, its steps are told again. */
  again: boolean;
}

/**
 * Begins a change of the hub's signing key to the seed in `seedFile` (made by `tremesh keygen`): records its public
 * key as the hub's next. The seed is read rather than a public key taken, so that every TRE pins a key the hub can
 * sign with. Refuses a seed others can read, the hub's current key or one it signed with before, a party's key, and
 * a second change while one is under way (the same key again only tells its steps again).
 */
export async function beginHubKeyChange(store: AdminStore, seedFile: string): Promise<HubKeyChange> {
  const next = await readHubSeed(seedFile);
  const state = await store.load();
  const { signingKey: current, nextSigningKey } = state.hub;
  const change = { current, next, seedFile: resolve(seedFile) };
  if (next === current)
    throw new AdminError(
      `rotate-hub-key: ${seedFile} holds the hub's current key ${current}; make a new one with 'tremesh keygen --out FILE'`,
      AdminErrorCode.failed,
    );
  if (nextSigningKey === next) return { ...change, again: true };
  checkKeyUnused(state, next);
  if (nextSigningKey !== undefined)
    throw new AdminError(
      `rotate-hub-key: a change of the hub's key to ${nextSigningKey} is under way; end it first (rotate-hub-key --finish, once the hub signs with it)`,
      AdminErrorCode.failed,
    );
  state.hub.nextSigningKey = next;
  await store.save(state);
  return { ...change, again: false };
}

/**
 * Ends the change under way: the next key becomes the hub's key, which new bundles pin alone. The old one is kept as
 * retired, so that neither the hub nor a party takes it again: its seed has been on the hub's nodes.
 */
export async function finishHubKeyChange(store: AdminStore): Promise<{ previous: string; current: string }> {
  const state = await store.load();
  const { signingKey: previous, nextSigningKey: current } = state.hub;
  if (current === undefined)
    throw new AdminError(
      "rotate-hub-key --finish: no change of the hub's key is under way (begin one with --seed-file FILE)",
      AdminErrorCode.failed,
    );
  state.hub.signingKey = current;
  delete state.hub.nextSigningKey;
  state.hub.retiredSigningKeys = [...(state.hub.retiredSigningKeys ?? []), previous];
  await store.save(state);
  return { previous, current };
}

/** An nkey seed file is one line of 58 characters; more is not a seed. */
const MAX_SEED_BYTES = 4096;

/** The public key of the user nkey seed in `file`, an owner-only file; every problem names the file, never the seed. */
async function readHubSeed(file: string): Promise<string> {
  const refuse = (problem: string, cause?: unknown) =>
    new AdminError(`rotate-hub-key: --seed-file ${file}: ${problem}`, AdminErrorCode.badInput, { cause });
  let text: string;
  try {
    const info = await stat(file);
    const exposed = exposedSecretProblem(info.mode);
    if (exposed !== undefined) throw refuse(exposed);
    if (info.size > MAX_SEED_BYTES) throw refuse("is too large for an nkey seed");
    // Bounded as every file a person names is: a device (stat size 0) would otherwise be read for ever.
    text = (await readBoundedFile(file, MAX_SEED_BYTES)).toString("utf8");
  } catch (cause) {
    if (cause instanceof AdminError) throw cause;
    if (cause instanceof InputFileError) throw refuse(cause.problem, cause);
    throw refuse(`cannot read: ${isSystemError(cause) ? systemErrorTold(cause) : String(cause)}`, cause);
  }
  let publicKey: string;
  try {
    publicKey = signingKeyFromSeed(text).publicKey;
  } catch (cause) {
    throw refuse(cause instanceof KeyFormatError ? cause.message : "not an nkey seed", cause);
  }
  if (!isUserPublicKey(publicKey))
    throw refuse(
      "holds an account or operator seed, not a user one; make the hub's key with 'tremesh keygen --out FILE'",
    );
  return publicKey;
}
