/**
 * The INFO line a NATS listener greets a connection with, read without logging in: it tells which kind of port a
 * URL names. A client whose login a server refused asks, so that a URL naming the hub's leafnode port (whose INFO
 * lists `leafnode_urls`; a client port's never does) is told as a wrong port, not as wrong credentials.
 */
import { createConnection, type Socket } from "node:net";
import { dialTls } from "./tls-probe.js";

/** The server's INFO fields as JSON, or undefined when none came (refused, no NATS, not within `timeoutMs`). */
export async function readNatsInfo(
  url: string,
  tls: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined } | undefined,
  timeoutMs = 2_000,
): Promise<Record<string, unknown> | undefined> {
  let socket: Socket;
  try {
    const parsed = new URL(url);
    socket = tls
      ? await dialTls(parsed, tls, url)
      : createConnection({
          host: parsed.hostname.replace(/^\[|\]$/g, ""),
          port: Number(parsed.port || 4222),
        });
  } catch {
    return undefined;
  }
  const line = await firstLine(socket, timeoutMs);
  return line === undefined ? undefined : parseInfo(line);
}

/**
 * The first line a server sends on `socket` (without its CRLF), or undefined when the socket fails, closes or says
 * nothing within `timeoutMs`, or the line runs past 64 KiB. The socket is destroyed either way.
 */
export function firstLine(socket: Socket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    let received = "";
    const done = (line: string | undefined) => {
      clearTimeout(deadline);
      socket.destroy();
      resolve(line);
    };
    const deadline = setTimeout(() => done(undefined), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      received += chunk;
      const end = received.indexOf("\r\n");
      if (end >= 0) done(received.slice(0, end));
      else if (received.length > 65_536) done(undefined);
    });
    socket.on("error", () => done(undefined));
    socket.on("close", () => done(undefined));
  });
}

/** Does the INFO come from a leafnode port (which lists the server's leafnode URLs)? */
export function isLeafnodeInfo(info: Record<string, unknown> | undefined): boolean {
  return Array.isArray(info?.leafnode_urls);
}

function parseInfo(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("INFO ")) return undefined;
  try {
    const info: unknown = JSON.parse(line.slice(5));
    return typeof info === "object" && info !== null ? (info as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
