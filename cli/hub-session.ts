/** Runs one CLI action over a profile's connection (the hub's, unless `server` says otherwise), closing it whatever happens. */
import type { NatsConnection } from "@nats-io/transport-node";
import { HubRequestError } from "../aggregator/index.js";
import { AirlockRequestError } from "./airlock-requests.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { printable } from "./printable.js";
import { connectProfile, loadProfile, type Profile } from "./profile.js";

export async function withHub<T>(
  profileFile: string | undefined,
  action: (nc: NatsConnection, profile: Profile) => Promise<T>,
  { server = "hub" }: { server?: "hub" | "leaf" | "any" } = {},
): Promise<T> {
  const profile = await loadProfile(profileFile);
  if (server !== "any" && profile.server !== server) {
    throw new CliError(
      `${profile.file} is a ${profile.server} profile; this command needs a ${server} profile`,
      ExitCode.badInput,
    );
  }
  const nc = await connectProfile(profile);
  try {
    return await action(nc, profile);
  } catch (e) {
    throw (await closedByServer(nc, profile, e)) ?? refusalAsCliError(e, profile);
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/**
 * When the server closed the connection under the command (a revocation, an expired JWT), that is what happened,
 * not that the hub did not answer: its own words, and what to do. Undefined while the connection is open.
 */
async function closedByServer(
  nc: NatsConnection,
  profile: Profile,
  e: unknown,
): Promise<CliError | undefined> {
  if (!nc.isClosed()) return undefined;
  const why = await nc.closed();
  if (!(why instanceof Error)) return undefined;
  const said = printable(why.message);
  // The server says why only in words ("User Authentication Revoked"); the client has no typed error for it.
  if (/revoked|authoriz|authentic/i.test(why.message))
    return new CliError(
      `the ${profile.server} closed ${profile.user}'s connection: ${said}; ask the federation admin whether your access was revoked`,
      ExitCode.refused,
      { cause: e },
    );
  return new CliError(
    `the ${profile.server} closed the connection: ${said}; try again`,
    ExitCode.unavailable,
    {
      cause: e,
    },
  );
}

/** Refusals that say the request was understood and cannot be done, rather than that the caller is not trusted. */
const FAILED_CODES: ReadonlySet<string> = new Set([
  "not_found",
  "already_ended",
  "bad_request",
  "already_decided",
  "already_reviewed",
  "digest_mismatch",
  "reason_required",
  "task_ended",
]);

/**
 * What to do after a refusal with `code`, said after its own words ("; …"), or "": for `unknown_signer`, the profile's
 * signing key is not the one registered for its user (a profile pointing at another person's seed, or an old one).
 */
export function refusalHint(
  code: string,
  profile: Pick<Profile, "file" | "server" | "user" | "tre">,
): string {
  if (code !== "unknown_signer") return "";
  return profile.server === "hub"
    ? `; the hub knows no such key for ${profile.user}: check signingKeyFile in ${profile.file}; it must be the seed whose public key the federation admin registered (tremesh admin add-researcher … --signing-key)`
    : `; TRE ${profile.tre ?? "?"} knows no such key for ${profile.user}: check signingKeyFile in ${profile.file}; it must be the seed whose public key leaf.yaml's reviewers list for ${profile.user}`;
}

/**
 * A hub's or an airlock's refusal as the CLI says it: its words, its code, what to check in the profile, and the exit
 * code for the code. Any other error is returned as it is. Used by every command over a profile's connection and by
 * the pages (`tremesh ui`, `tremesh airlock serve`) for their first request.
 */
export function refusalAsCliError(e: unknown, profile: Profile): unknown {
  if (!(e instanceof HubRequestError) && !(e instanceof AirlockRequestError)) return e;
  const exitCode =
    e.code === "no_answer"
      ? ExitCode.unavailable
      : FAILED_CODES.has(e.code)
        ? ExitCode.failed
        : ExitCode.refused;
  return new CliError(`${e.message} (${e.code})${refusalHint(e.code, profile)}`, exitCode, { cause: e });
}
