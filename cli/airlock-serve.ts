import type { NatsConnection } from "@nats-io/transport-node";
import { airlockPage, type ReviewBackend } from "./airlock-page.js";
import { listReviews, sendDecision, showReview } from "./airlock-requests.js";
import type { Io } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { refusalAsCliError } from "./hub-session.js";
import { type PageServer, runPageCommand, startPage } from "./page-server.js";
import { connectProfile, loadProfile, type Profile, signingKey } from "./profile.js";

/** Default port of the page; `--port 0` picks a free one. */
export const DEFAULT_REVIEW_PORT = 8765;

export const serveUsage = [
  "tremesh airlock serve [--profile FILE] [--host HOST] [--port N]",
  "  the review page: the queue, each output with its flagged cells, decisions signed as `airlock approve|reject`",
  "  --profile FILE  the reviewer's leaf profile (default $TREMESH_PROFILE); its signing key stays in this process",
  "  --host HOST     the address to listen on: 127.0.0.1 (default), another 127.x address, ::1 or localhost; any other is",
  "                  refused: one reviewer's page per process, next to their login. For a shared server, run one",
  "                  per reviewer on its loopback behind your own sign-on and TLS proxy (docs/operations.md)",
  `  --port N        port to listen on (default ${DEFAULT_REVIEW_PORT}; 0 picks a free port)`,
  "  Prints a one-time login URL; open it in a browser on this machine. The page answers only that URL's host and",
  "  port (Host check) and only the browser that opened the link (session cookie). Stop with Ctrl-C.",
].join("\n       ");

export type AirlockServer = PageServer;

/** A backend that signs with the reviewer's key, over one connection to the leaf, reopened if it closed. */
export function natsBackend(profile: Profile): ReviewBackend & { close(): Promise<void> } {
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
    {
      ready: () => backend.list(false).catch((e) => Promise.reject(refusalAsCliError(e, profile))),
      cleanup: () => backend.close(),
    },
  );
}

export function airlockServe(argv: string[], io: Io): Promise<number> {
  return runPageCommand(argv, io, {
    command: "airlock serve",
    label: "review page",
    loopbackOnly:
      "it signs with your key; for a shared server, run one per reviewer on its loopback behind your own sign-on and TLS proxy (docs/operations.md)",
    start: startAirlockServer,
  });
}
