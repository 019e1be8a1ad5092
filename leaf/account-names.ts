/**
 * Account names on a TRE's leaf server. The TRE enforces its own boundary: only DMZ is bound to the
 * hub link, so a compromised hub (or loose hub-issued permissions) never reaches CTRL's data.
 */

/** The only account bound to the hub link: incoming tasks (INBOX) and released results (OUTBOX). */
export const DMZ_ACCOUNT = "DMZ";

/** The controlled account: agent state, pending outputs (the airlock) and audit. Never bound to the hub link. */
export const CTRL_ACCOUNT = "CTRL";

/** The leaf's own system account; it stays local (not linked to the hub). */
export const LEAF_SYSTEM_ACCOUNT = "SYS";
