/** Runs one CLI action over a profile's connection (the hub's, unless `server` says otherwise), closing it whatever happens. */
import type { NatsConnection } from "@nats-io/transport-node";
import { HubRequestError } from "../aggregator/index.js";
import { AirlockRequestError } from "./airlock-requests.js";
import { CliError, ExitCode } from "./exit-codes.js";
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
    throw asCliError(e);
  } finally {
    await nc.close().catch(() => undefined);
  }
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

/** Maps the hub's and the airlock's refusal codes onto exit codes. */
function asCliError(e: unknown): unknown {
  if (!(e instanceof HubRequestError) && !(e instanceof AirlockRequestError)) return e;
  const exitCode =
    e.code === "no_answer"
      ? ExitCode.unavailable
      : FAILED_CODES.has(e.code)
        ? ExitCode.failed
        : ExitCode.refused;
  return new CliError(`${e.message} (${e.code})`, exitCode, { cause: e });
}
