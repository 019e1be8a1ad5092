/**
 * Who a receiver trusts, and for what. Each public key belongs to one principal with one
 * role; each message type may be signed by one role only. An unknown key is refused before
 * any cryptography is done, so hostile traffic cannot make a receiver parse arbitrary keys.
 */
import type { KeyObject } from "node:crypto";
import { verifyingKey } from "./keys.js";
import type { MessageType } from "./messages.js";

export type Role = "hub" | "tre" | "reviewer" | "researcher";

/**
 * The roles that may sign each message type. A Decision is a reviewer's, or the TRE's own when its
 * auto-release policy released an output that passed every disclosure check.
 */
const signerRole: Record<MessageType, Role | readonly Role[]> = {
  submission: "researcher",
  dispatch: "hub",
  cancel: "hub",
  cancelRequest: "researcher",
  query: "researcher",
  reviewQuery: "reviewer",
  status: "tre",
  release: "tre",
  heartbeat: "tre",
  decision: ["reviewer", "tre"],
};

export interface Principal {
  readonly publicKey: string;
  readonly role: Role;
  /** A human-readable name for logs and audit ("hub", "tre:a", "alice"). */
  readonly name: string;
  /** For `tre` and `reviewer` principals: the TRE they speak for. Their messages must name it. */
  readonly tre?: string;
}

interface Entry extends Principal {
  readonly key: KeyObject;
}

export class TrustStore {
  readonly #entries = new Map<string, Entry>();

  /** Adds a principal; throws if the key is malformed or already trusted under another role or name. */
  add(principal: Principal): this {
    const existing = this.#entries.get(principal.publicKey);
    if (existing && (existing.role !== principal.role || existing.tre !== principal.tre)) {
      throw new Error(
        `key ${principal.publicKey.slice(0, 8)}… is already trusted as ${existing.role} ${existing.name}`,
      );
    }
    this.#entries.set(principal.publicKey, { ...principal, key: verifyingKey(principal.publicKey) });
    return this;
  }

  remove(publicKey: string): boolean {
    return this.#entries.delete(publicKey);
  }

  get(publicKey: string): Entry | undefined {
    return this.#entries.get(publicKey);
  }

  principals(): Principal[] {
    return [...this.#entries.values()].map(({ key: _key, ...p }) => p);
  }
}

/** Whether `role` may sign a `type` message. */
export function maySign(role: Role, type: MessageType): boolean {
  const allowed = signerRole[type];
  return typeof allowed === "string" ? allowed === role : allowed.includes(role);
}
