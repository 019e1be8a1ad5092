/**
 * Serves a tremesh page on loopback: any other address is refused (a shared server goes behind the operator's
 * own sign-on and TLS proxy). Resolves once listening, with the address and the Host names to answer.
 */
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { isLoopbackHost } from "../common/index.js";
import { type Io, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { newSecret } from "./page-guard.js";
import { runUntilSignal } from "./run-until-signal.js";

export interface ListeningPage {
  /** The page's address, e.g. `http://127.0.0.1:8765/`. */
  url: string;
  close(): Promise<void>;
}

/**
 * `--host HOST` when it is a loopback address, or a usage error that says why this page (`why`) listens on nothing
 * else.
 */
export function loopbackHost(host: string, why: string): string {
  if (!isLoopbackHost(host)) throw usageError(`--host ${host}: the page listens on loopback only: ${why}`);
  return host;
}

/** Listens with `app` on `host:port`; pushes the Host names it answers to onto `allowedHosts`. */
export async function listenOnLoopback(
  app: Hono,
  { host, port }: { host: string; port: number },
  allowedHosts: string[],
): Promise<ListeningPage> {
  loopbackHost(host, "a page is for a browser on this machine");
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once("error", reject);
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  allowedHosts.push(`${shown}:${bound}`, `localhost:${bound}`);
  return {
    url: `http://${shown}:${bound}/`,
    // close() alone waits for every open connection, and an open page's refresh requests keep its keep-alive
    // connection busy for ever: a stopped page would never finish stopping. So every connection ends with it.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      }),
  };
}

/** `--port N` as a number, or a usage error. */
export function portArg(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const port = Number(value);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535))
    throw usageError(`--port ${value}: expected a port number from 0 to 65535`);
  return port;
}

export interface PageServer extends AsyncDisposable {
  /** The one-time login URL (holds the token: show it only to the person the page is for). */
  readonly loginUrl: string;
  /** The page's address without the token. */
  readonly url: string;
  close(): Promise<void>;
}

export interface PageServerOptions {
  profile: string | undefined;
  host?: string;
  port?: number;
}

/**
 * Once `ready` resolves (the page's first request to the leaf or hub: fail at start, with the CLI's message,
 * when it cannot be reached or refuses the login), listens with the app `make` builds for a fresh login token,
 * on loopback; `cleanup` (closing the page's NATS connection) runs when the page closes, or at once on failure.
 */
export async function startPage(
  make: (guard: { loginToken: string; allowedHosts: readonly string[] }) => Hono,
  where: { host?: string | undefined; port?: number | undefined; defaultPort: number },
  { ready, cleanup }: { ready: () => Promise<unknown>; cleanup: () => Promise<void> },
): Promise<PageServer> {
  try {
    await ready();
    const loginToken = newSecret();
    const allowedHosts: string[] = [];
    const listening = await listenOnLoopback(
      make({ loginToken, allowedHosts }),
      { host: where.host ?? "127.0.0.1", port: where.port ?? where.defaultPort },
      allowedHosts,
    );
    const close = async () => {
      await listening.close();
      await cleanup();
    };
    return {
      url: listening.url,
      loginUrl: `${listening.url}login?token=${loginToken}`,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** The options of a page command (`airlock serve`, `ui`): each command's usage documents every one. */
export const PAGE_OPTIONS = {
  profile: { type: "string" },
  host: { type: "string" },
  port: { type: "string" },
} as const;

/**
 * A page command: `PAGE_OPTIONS`; prints the login URL as `label: URL` and serves until a signal. `loopbackOnly`
 * says why the page refuses any other address, checked before the page connects anywhere.
 */
export async function runPageCommand(
  argv: string[],
  io: Io,
  {
    command,
    label,
    loopbackOnly,
    start,
  }: {
    command: string;
    label: string;
    loopbackOnly: string;
    start: (o: PageServerOptions) => Promise<PageServer>;
  },
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: PAGE_OPTIONS,
  });
  if (positionals.length > 0) throw usageError(`${command}: takes no arguments`);
  const port = portArg(values.port);
  if (values.host !== undefined) loopbackHost(values.host, loopbackOnly);
  const server = await start({
    profile: values.profile,
    ...(values.host !== undefined ? { host: values.host } : {}),
    ...(port !== undefined ? { port } : {}),
  });
  io.out(`${label}: ${server.loginUrl}`);
  io.out("open it in a browser on this machine (the link works once); Ctrl-C stops the page");
  await runUntilSignal(() => server.close());
  return ExitCode.ok;
}
