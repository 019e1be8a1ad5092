/**
 * Serves a tremesh page on loopback: any other address is refused (a shared server goes behind the operator's
 * own sign-on and TLS proxy). Resolves once listening, with the address and the Host names to answer.
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { Hono } from "hono";
import { isLoopbackHost } from "../common/index.js";
import { usageError } from "./command.js";

export interface ListeningPage {
  /** The page's address, e.g. `http://127.0.0.1:8765/`. */
  url: string;
  close(): Promise<void>;
}

/** Listens with `app` on `host:port`; pushes the Host names it answers to onto `allowedHosts`. */
export async function listenOnLoopback(
  app: Hono,
  { host, port }: { host: string; port: number },
  allowedHosts: string[],
): Promise<ListeningPage> {
  if (!isLoopbackHost(host))
    throw usageError(
      `--host ${host}: the page listens on loopback only; a shared server goes behind your own sign-on proxy`,
    );
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(s));
    s.once("error", reject);
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(":") ? `[${host}]` : host;
  allowedHosts.push(`${shown}:${bound}`, `localhost:${bound}`);
  return {
    url: `http://${shown}:${bound}/`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
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
