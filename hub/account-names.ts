/**
 * Account names on the hub server. One account per TRE keeps every TRE's subjects and streams apart
 * (an account boundary hides JetStream data; subject permissions alone do not).
 */
import { isTreName } from "../protocol/index.js";

/** The hub's system account (server events, monitoring requests). */
export const HUB_SYSTEM_ACCOUNT = "SYS";

/** The federation account: the hub services (submission, dispatch, state, results) live here. */
export const FED_ACCOUNT = "FED";

/**
 * The researchers' account: their connections may only call the hub's researcher services (submit, cancel,
 * query) and read replies on their own inbox prefix. It holds no stream and imports nothing else.
 */
export const RESEARCH_ACCOUNT = "RESEARCH";

/**
 * The hub account a TRE's leaf link binds to: `TRE_<name>`, with `-` written as `_`. TRE names have no
 * `_`, so the mapping is one-to-one, and the result is a plain token in `$SYS` subjects and configs.
 *
 * @example treAccountName("north-1") // "TRE_north_1"
 */
export function treAccountName(tre: string): string {
  if (!isTreName(tre)) throw new RangeError(`not a valid TRE name: ${JSON.stringify(tre)}`);
  return `TRE_${tre.replaceAll("-", "_")}`;
}
