import type { NatsConnection } from "@nats-io/transport-node";
import { airlockPage, type ReviewBackend } from "./airlock-page.js";
import { listReviews, sendDecision, showReview } from "./airlock-requests.js";
import type { Io } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { type PageServer, runPageCommand, startPage } from "./page-server.js";
import { connectProfile, loadProfile, type Profile, signingKey } from "./profile.js";

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

export type AirlockServer = PageServer;

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
  return startPage(
    (guard) => airlockPage(backend, guard),
    { host: options.host, port: options.port, defaultPort: DEFAULT_REVIEW_PORT },
    { ready: () => backend.list(false), cleanup: () => backend.close() },
  );
}

export function airlockServe(argv: string[], io: Io): Promise<number> {
  return runPageCommand(argv, io, {
    command: "airlock serve",
    label: "review page",
    start: startAirlockServer,
  });
}
