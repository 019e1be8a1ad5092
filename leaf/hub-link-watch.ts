/**
 * Whether this TRE's link to the hub is up, said in the operator's log. nats-server retries a link the hub refuses
 * (a revoked TRE, hub-link.creds of another federation) or cannot reach (the hub down, a wrong URL) quietly, into its
 * own log file, while the agent runs as if all were well. After `graceMs` without a link the leaf says so once, with
 * the last leafnode error its server logged, and says again when the link comes up.
 */
import { open } from "node:fs/promises";

export type HubLinkEvent =
  /** No link to the hub for `downForMs`; `serverSays` is the server's last leafnode error, when it logged one. */
  | { type: "hub-link-down"; downForMs: number; serverSays?: string; serverLog: string }
  /** The link is up again after a `hub-link-down`. */
  | { type: "hub-link-up"; downForMs: number };

export interface HubLinkWatchOptions {
  /** Whether the leaf's server has its hub link now (its /leafz). */
  isUp: () => Promise<boolean>;
  /** The leaf's nats-server log file. */
  serverLog: string;
  graceMs: number;
  intervalMs: number;
  emit: (event: HubLinkEvent) => void;
  now?: () => number;
}

/** How long a leaf may go without its hub link before its log says so: links come up in a second or two. */
export const HUB_LINK_GRACE_MS = 20_000;

/** Watches until the returned function is called. */
export function watchHubLink(o: HubLinkWatchOptions): () => void {
  const now = o.now ?? Date.now;
  let downSince: number | undefined = now();
  let reported = false;
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const up = await o.isUp().catch(() => false);
      const at = now();
      if (up) {
        if (reported && downSince !== undefined) o.emit({ type: "hub-link-up", downForMs: at - downSince });
        downSince = undefined;
        reported = false;
        return;
      }
      downSince ??= at;
      if (reported || at - downSince < o.graceMs) return;
      reported = true;
      const serverSays = await lastLeafnodeError(o.serverLog);
      o.emit({
        type: "hub-link-down",
        downForMs: at - downSince,
        ...(serverSays ? { serverSays } : {}),
        serverLog: o.serverLog,
      });
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), o.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** How much of the log's end is read for its last leafnode error. */
const TAIL_BYTES = 64 * 1024;

/**
 * The last leafnode error in a nats-server log, without its pid, time and level: "127.0.0.1:7422 - lid:5 - Leafnode
 * Error 'Authorization Violation'", "Error trying to connect as leafnode to remote server … connection refused".
 */
export async function lastLeafnodeError(logFile: string): Promise<string | undefined> {
  let tail: string;
  try {
    const file = await open(logFile, "r");
    try {
      const { size } = await file.stat();
      const length = Math.min(size, TAIL_BYTES);
      const buffer = Buffer.alloc(length);
      await file.read(buffer, 0, length, size - length);
      tail = buffer.toString("utf8");
    } finally {
      await file.close();
    }
  } catch {
    return undefined;
  }
  const line = tail
    .split("\n")
    .findLast(
      (l) => /\[(ERR|WRN)\]/.test(l) && /leafnode/i.test(l) && /error|refused|violation|fail/i.test(l),
    );
  return line?.replace(/^.*?\[(ERR|WRN)\] /, "").trim();
}
