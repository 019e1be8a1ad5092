/**
 * Readiness signals of a nats-server we started: the ports file it writes (`-ports_file_dir`), the
 * INFO line its client port sends, and the lines of its log file. All are read-only probes; none
 * needs credentials, so they work for any account setup.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { createConnection } from "node:net";
import { join } from "node:path";
import { firstLine } from "./nats-info.js";

/** What nats-server 2.10 writes to `<exe>_<pid>.ports`. It lists no leafnode listener (see `leafListenUrl`). */
export interface PortsFile {
  nats?: string[];
  monitoring?: string[];
  cluster?: string[];
  websocket?: string[];
}

/** The ports file of process `pid` in `dir`, or undefined while it is not (completely) written yet. */
export async function readPortsFile(dir: string, pid: number): Promise<PortsFile | undefined> {
  const file = await portsFilePath(dir, pid);
  if (file === undefined) return undefined;
  try {
    return JSON.parse(await readFile(file, "utf8")) as PortsFile;
  } catch {
    return undefined; // caught mid-write; the caller polls again
  }
}

/** The ports file name starts with the executable's base name, which a symlinked or renamed binary changes. */
export async function portsFilePath(dir: string, pid: number): Promise<string | undefined> {
  const suffix = `_${pid}.ports`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const name = names.find((n) => n.endsWith(suffix));
  return name === undefined ? undefined : join(dir, name);
}

/**
 * Resolves true once `url`'s port accepts a TCP connection and sends a NATS `INFO` line; false on
 * refusal, a different greeting or no greeting within `timeoutMs`.
 */
export async function probeNatsInfo(url: string, timeoutMs: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const socket = createConnection({ host: hostname.replace(/^\[|\]$/g, ""), port: Number(port) });
  return (await firstLine(socket, timeoutMs))?.startsWith("INFO ") ?? false;
}

export async function fileSize(file: string): Promise<number> {
  try {
    return (await stat(file)).size;
  } catch {
    return 0;
  }
}

/** The log written since byte `offset` (from the start if the file was truncated or replaced). */
export async function readLogSince(file: string, offset: number): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    return "";
  }
  return Buffer.byteLength(text) >= offset ? Buffer.from(text).subarray(offset).toString("utf8") : text;
}

export function lastLines(text: string, count: number): string {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

const READY_LINE = "Server is ready";
const LEAF_LISTEN = /Listening for leafnode connections on (\S+)/;

export function logSaysReady(log: string): boolean {
  return log.includes(READY_LINE);
}

/** The leafnode listener, which the 2.10 ports file omits; nats-server logs it before it is ready. */
export function leafListenUrl(log: string): string | undefined {
  const hostPort = LEAF_LISTEN.exec(log)?.[1];
  return hostPort === undefined ? undefined : `nats-leaf://${hostPort}`;
}
