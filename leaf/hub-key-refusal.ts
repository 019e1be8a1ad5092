/**
 * A Dispatch signed by a key other than the hub keys leaf.yaml pins (`hub.publicKey`, and `hub.nextPublicKey` while
 * the federation changes its key) is refused: the TRE never trusts it. Dead-lettered alone, it would leave the task `queued` at the hub until it expires, the researcher never
 * told why; so the agent also ends its part of the task with a `rejected` StatusEvent of its own, which names the
 * keys and what the TRE's operator must do (the event's `unpinnedHubKey` names `hub.publicKey` as the pinned one).
 *
 * Only a Dispatch that is well formed and whose signature verifies with the key it names is answered so: anything
 * else (garbage, a bad signature) is dead-lettered as before, with nothing sent. The answer carries the task id and
 * the two keys, nothing else of the unverified message. The task is claimed as `rejected` in the agent's state
 * first, so a task is refused at most once here, however many Dispatches of it come and across restarts; a later
 * Dispatch of it, even one the pinned key signs, is refused as seen before, as any task is.
 */
import {
  openTaskMessage,
  peekEnvelope,
  type StatusEvent,
  type TaskSubject,
  TrustStore,
} from "../protocol/index.js";
import type { HubKeys } from "./hub-link-config.js";

/** The keys a refusal names: the hub key leaf.yaml pins, and the one that signed the Dispatch. */
export type UnpinnedHubKey = NonNullable<StatusEvent["unpinnedHubKey"]>;

/**
 * The key that signed a Dispatch the pinned hub key did not: undefined unless the message is a well-formed Dispatch of
 * `where`'s task for this TRE whose signature verifies with the key it names.
 */
export async function unpinnedSigner(
  where: TaskSubject & { kind: "dispatch" },
  subject: string,
  data: Uint8Array,
  now: number,
): Promise<string | undefined> {
  const signer = peekEnvelope(data)?.signer;
  if (signer === undefined) return undefined;
  let trust: TrustStore;
  try {
    trust = new TrustStore().add({ publicKey: signer, role: "hub", name: "unpinned hub key" });
  } catch {
    return undefined; // not an nkey public key at all
  }
  const opened = await openTaskMessage(where, subject, data, { trust, allowExpired: true, now });
  return opened.ok ? signer : undefined;
}

/**
 * Why the TRE refused the task, in words its researcher can pass to the TRE's operator: the key that signed, and
 * every key leaf.yaml pins (two during a change of the hub's key).
 */
export function unpinnedReason(signer: string, pinned: HubKeys): string {
  const keys = [`hub.publicKey ${pinned.publicKey.slice(0, 8)}…`];
  if (pinned.nextPublicKey !== undefined) keys.push(`hub.nextPublicKey ${pinned.nextPublicKey.slice(0, 8)}…`);
  return (
    `this TRE refused the task without receiving it: its Dispatch is signed by hub key ${signer.slice(0, 8)}…, ` +
    `but the TRE's leaf.yaml pins ${keys.join(" and ")}; the TRE's operator must pin the federation's hub key ` +
    "(hub.publicKey, or hub.nextPublicKey while the federation changes it) and restart the leaf, then the task can " +
    "be submitted again"
  );
}
