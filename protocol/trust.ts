/**
 * Who a receiver trusts, and for what. Each public key belongs to one principal with one
 * role; each message type may be signed by one role only. An unknown key is refused before
 * any cryptography is done, so hostile traffic cannot make a receiver parse arbitrary keys.
 */
import type { KeyObject } from "node:crypto";
import { verifyingKey } from "./keys.js";
import type { MessageType } from "./messages.js";

export type Role = "hub" | "tre" | "reviewer" | "researcher";

/** The only role that may sign each message type. */
export const signerRole: Record<MessageType, Role> = {
  submission: "researcher",
  dispatch: "hub",
  cancel: "hub",
  cancelRequest: "researcher",
  query: "researcher",
  status: "tre",
  release: "tre",
  heartbeat: "tre",
  decision: "reviewer",
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
