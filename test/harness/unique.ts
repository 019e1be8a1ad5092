import { randomBytes } from "node:crypto";

/**
 * A short random token for names that must not collide between tests running in parallel (server
 * names, stream and subject tokens). Lower-case hex, so it also fits TRE-name and subject rules.
 */
export function uniqueToken(): string {
  return randomBytes(4).toString("hex");
}
