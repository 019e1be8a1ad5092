/**
 * Name rules shared by subjects, configs and message validation. A name that passes here is
 * safe as a NATS subject token, a JetStream domain and stream-name fragment, and a file name.
 */

/** TRE names: lower-case letters, digits and `-`, starting with a letter, at most 32 characters. */
export const TRE_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Project names follow the TRE rule, plus `_`. */
export const PROJECT_NAME = /^[a-z][a-z0-9_-]{0,63}$/;

/** Ids are ULIDs: 26 Crockford base-32 characters, time-ordered. */
export const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function isTreName(s: string): boolean {
  return TRE_NAME.test(s);
}

export function isTaskId(s: string): boolean {
  return ULID.test(s);
}
