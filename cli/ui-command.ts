import type { NatsConnection } from "@nats-io/transport-node";
import { collectResults, fetchTask, listTasks, submit } from "../aggregator/index.js";
import type { Command } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { refusalAsCliError } from "./hub-session.js";
import { type PageServer, runPageCommand, startPage } from "./page-server.js";
import { connectProfile, loadProfile, signingKey } from "./profile.js";
import { type ResearcherBackend, researcherPage } from "./ui-page.js";

/** Default port of the researcher's page (the review page's is 8765); `--port 0` picks a free one. */
export const DEFAULT_UI_PORT = 8766;

export type ResearcherServer = PageServer;

export async function startResearcherServer(options: {
  profile: string | undefined;
  host?: string;
  port?: number;
}): Promise<ResearcherServer> {
  const profile = await loadProfile(options.profile);
  if (profile.server !== "hub")
    throw new CliError(
      `${profile.file} is a leaf profile; the researcher's page needs a hub profile`,
      ExitCode.badInput,
    );
  const key = signingKey(profile);
  let nc: NatsConnection | undefined;
  const conn = async () => {
    if (!nc || nc.isClosed()) nc = await connectProfile(profile);
    return nc;
  };
  const backend: ResearcherBackend = {
    researcher: profile.user,
    tasks: async () => listTasks(await conn(), key),
    task: async (taskId, change) => fetchTask(await conn(), key, taskId, change ?? {}),
    results: async (taskId) => collectResults(await conn(), key, taskId, profile.treKeys),
    submit: async (submission) => submit(await conn(), key, submission),
  };
  const cleanup = async () => {
    await nc?.close().catch(() => undefined);
  };
  return startPage(
    (guard) => researcherPage(backend, guard),
    { host: options.host, port: options.port, defaultPort: DEFAULT_UI_PORT },
    // The first request: a hub that cannot be reached, or refuses the profile, fails the start, said as
    // `tremesh status` says it (an unknown signing key names the profile's signingKeyFile, exit 5).
    { ready: () => backend.tasks().catch((e) => Promise.reject(refusalAsCliError(e, profile))), cleanup },
  );
}

export const ui: Command = {
  usage: [
    "tremesh ui [--profile FILE] [--host HOST] [--port N]",
    "  the researcher's page: your tasks, each TRE's state live, combined tables, plots, released files, reviewers'",
    "  messages, and a form to submit an analysis (checked as `tremesh submit` checks it)",
    "  --profile FILE  the researcher's hub profile (default $TREMESH_PROFILE); its signing key stays in this process",
    "  --host HOST     the address to listen on: 127.0.0.1 (default), another 127.x address, ::1 or localhost; any other is",
    "                  refused (the page is for the researcher at this machine)",
    `  --port N        port to listen on (default ${DEFAULT_UI_PORT}; 0 picks a free port)`,
    "  Prints a one-time login URL; open it in a browser on this machine. The page answers only that URL's host and",
    "  port (Host check) and only the browser that opened the link (session cookie). Stop with Ctrl-C.",
  ].join("\n       "),
  examples: ["tremesh ui --profile alice.profile.yaml   # prints http://127.0.0.1:8766/login?token=…"],
  run: (argv, io) =>
    runPageCommand(argv, io, {
      command: "ui",
      label: "researcher's page",
      loopbackOnly: "it signs with your key, so it is for your browser on this machine alone",
      start: startResearcherServer,
    }),
};
