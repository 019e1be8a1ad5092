/**
 * `tremesh admin rotate-hub-key --seed-file FILE | --finish`: the CLI side of admin-hub-key.ts. It records the change
 * in federation.json and tells each party its step; the TREs' leaf.yaml and the hub nodes' hub.yaml are theirs.
 */
import { AdminStore, beginHubKeyChange, finishHubKeyChange } from "../admin/index.js";
import { DEFAULT_MAX_LIFETIME_MS } from "../protocol/index.js";
import { print, type Values } from "./admin-flags.js";
import { type Io, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";

/** Days a Dispatch stays valid: after as long past the switch, no Dispatch signed by the old key is taken anywhere. */
const DISPATCH_DAYS = Math.ceil(DEFAULT_MAX_LIFETIME_MS / 86_400_000);

export async function rotateHubKeyCommand(rest: string[], values: Values, io: Io): Promise<number> {
  const seedFile = values["seed-file"];
  if (rest.length > 0 || (seedFile === undefined) === (values.finish !== true))
    throw usageError(
      "admin rotate-hub-key: give --seed-file FILE (the hub's next key, from 'tremesh keygen --out FILE') to begin a change, or --finish to end it",
    );
  const store = AdminStore.locate(values.dir);
  const dir = values.dir === undefined ? "" : ` --dir ${values.dir}`;
  if (seedFile !== undefined) {
    const change = await beginHubKeyChange(store, seedFile);
    print(io, values.json, change, () => [
      `hub key change ${change.again ? "under way already" : "begun"}: from ${change.current} to ${change.next}`,
      `1. every TRE's operator: in leaf.yaml's hub section, add  nextPublicKey: ${change.next}  and restart the leaf`,
      "   (it then takes tasks signed by either key; new add-tre bundles pin both already)",
      `2. once every TRE has: on each hub node, set hub.yaml's signingKeyFile to ${change.seedFile}`,
      "   (copied owner-only to a node on another machine), and restart the nodes one at a time",
      "3. once no task dispatched before the switch is still queued for a TRE, or at the latest",
      `   ${DISPATCH_DAYS} days after the switch (when those Dispatches expire): tremesh admin rotate-hub-key --finish${dir}`,
    ]);
    return ExitCode.ok;
  }
  const done = await finishHubKeyChange(store);
  print(io, values.json, done, () => [
    `hub key is now ${done.current} (was ${done.previous}); new add-tre bundles pin it alone`,
    `every TRE's operator: in leaf.yaml's hub section, set  publicKey: ${done.current}, remove nextPublicKey,`,
    "and restart the leaf; then the old key's seed can go from the hub nodes",
  ]);
  return ExitCode.ok;
}
