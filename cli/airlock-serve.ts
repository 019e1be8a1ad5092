/**
 * `tremesh airlock serve`: the reviewer's page (airlock-page.ts) for one reviewer, next to their login. It
 * binds to loopback unless told otherwise, prints a one-time login URL, and signs every request with the
 * reviewer's key inside this process, exactly as `tremesh airlock list|show|approve|reject` do.
 */
import { parseArgs } from "node:util";
import type { NatsConnection } from "@nats-io/transport-node";
import { airlockPage, type ReviewBackend } from "./airlock-page.js";
import { listReviews, sendDecision, showReview } from "./airlock-requests.js";
import { type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { newSecret } from "./page-guard.js";
import { listenOnLoopback, portArg } from "./page-server.js";
import { connectProfile, loadProfile, type Profile, signingKey } from "./profile.js";
import { runUntilSignal } from "./run-until-signal.js";

/** Default port of the page; `--port 0` picks a free one. */
export const DEFAULT_REVIEW_PORT = 8765;

export const serveUsage = [
  "tremesh airlock serve [--profile FILE] [--host HOST] [--port N]",
  "  --profile FILE  the reviewer's leaf profile (default $TREMESH_PROFILE); its signing key stays in this process",
  "  --host HOST     the loopback address to listen on (default 127.0.0.1); any other is refused: for a shared",
  "                  server, put your own sign-on and TLS proxy in front (see the README)",
  `  --port N        port to listen on (default ${DEFAULT_REVIEW_PORT}; 0 picks a free port)`,
  "  Prints a one-time login URL; open it in a browser on this machine. Stop with Ctrl-C.",
].join("\n       ");

export interface AirlockServer extends AsyncDisposable {
  /** The one-time login URL (holds the token: show it only to the reviewer). */
  readonly loginUrl: string;
  /** The page's address without the token. */
  readonly url: string;
  close(): Promise<void>;
}

/** A backend that signs with the reviewer's key, over one connection to the leaf, reopened if it closed. */
function natsBackend(profile: Profile): ReviewBackend & { close(): Promise<void> } {
  const key = signingKey(profile);
  const tre = profile.tre ?? "";
  let nc: NatsConnection | undefined;
  const conn = async () => {
    if (!nc || nc.isClosed()) nc = await connectProfile(profile);
    return nc;
  };
  return {
    reviewer: profile.user,
    tre,
    list: async (all) => listReviews(await conn(), key, tre, all),
    show: async (taskId) => showReview(await conn(), key, tre, taskId),
    decide: async (d) => sendDecision(await conn(), key, d),
    close: async () => {
      await nc?.close().catch(() => undefined);
    },
  };
}

export async function startAirlockServer(options: {
  profile: string | undefined;
  host?: string;
  port?: number;
}): Promise<AirlockServer> {
  const profile = await loadProfile(options.profile);
  if (profile.server !== "leaf")
    throw new CliError(
      `${profile.file} is a hub profile; the review page needs a reviewer's leaf profile`,
      ExitCode.badInput,
    );
  const backend = natsBackend(profile);
  try {
    // Fail now, with the CLI's message, if the leaf cannot be reached or refuses the reviewer.
    await backend.list(false);
    const loginToken = newSecret();
    const allowedHosts: string[] = [];
    const app = airlockPage(backend, { loginToken, allowedHosts });
    const listening = await listenOnLoopback(
      app,
      { host: options.host ?? "127.0.0.1", port: options.port ?? DEFAULT_REVIEW_PORT },
      allowedHosts,
    );
    const close = async () => {
      await listening.close();
      await backend.close();
    };
    return {
      url: listening.url,
      loginUrl: `${listening.url}login?token=${loginToken}`,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (e) {
    await backend.close();
    throw e;
  }
}

export async function airlockServe(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { profile: { type: "string" }, host: { type: "string" }, port: { type: "string" } },
  });
  if (positionals.length > 0) throw usageError("airlock serve: takes no task id");
  const port = portArg(values.port);
  const server = await startAirlockServer({
    profile: values.profile,
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
  });
  io.out(`review page: ${server.loginUrl}`);
  io.out("open it in a browser on this machine (the link works once); Ctrl-C stops the page");
  await runUntilSignal(() => server.close());
  return ExitCode.ok;
}
