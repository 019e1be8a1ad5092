/**
 * Why a nats-server stopped before it was ready, in one line, read from the end of its log and output.
 * nats-server says it in a `[FTL]` line (a port it cannot listen on, a store it cannot open) or, for a
 * config it cannot parse, on stderr before its log is open; the dozens of `[INF]` lines before that are
 * start-up noise that hides it.
 *
 * @example
 * startFailure('[31607] 2026/12/07 19:34:39.260336 [FTL] Error listening on leafnode port: 24936 - listen tcp 127.0.0.1:24936: bind: address already in use')
 * // → { reason: "leafnode port 24936 (127.0.0.1) is already in use",
 * //     port: { listener: "leafnode", host: "127.0.0.1", port: 24936, problem: "address already in use" } }
 */

/** Which of a nats-server's listeners a bind failure is about, as nats-server's own words name them. */
export type NatsListener = "client" | "leafnode" | "monitoring" | "cluster" | "websocket" | "mqtt";

/** A listener nats-server could not open: which, on which host and port, and what the system said. */
export interface NatsPortProblem {
  listener: NatsListener;
  host: string;
  port: number;
  /** The system's reason, e.g. "address already in use", "cannot assign requested address". */
  problem: string;
}

export interface NatsStartFailure {
  /** One line, the cause first: "leafnode port 24936 (127.0.0.1) is already in use". */
  reason: string;
  /** Present when the cause is a port the server could not listen on. */
  port?: NatsPortProblem;
}

/** A log line's prefix: `[pid] 2026/12/07 19:34:39.260336 [FTL] `. */
const LOG_LINE = /^\[\d+\] \S+ \S+ \[(FTL|ERR)\] (.*)$/;
/** The bind error inside a listener's fatal line: `listen tcp 127.0.0.1:24936: bind: address already in use`. */
const BIND_ERROR = /listen tcp (\[[^\]]*\]|[^\s:]*):(\d+): bind: ([^"]+)/;

/**
 * The cause in `tail` (the last lines of the server's log and output): its last `[FTL]` line, else its
 * stderr's own complaint (`nats-server: …`), else its last `[ERR]` line; undefined when it names none.
 */
export function startFailure(tail: string): NatsStartFailure | undefined {
  const lines = tail.split("\n").map((l) => l.trim());
  const leveled = lines.flatMap((l) => {
    const m = LOG_LINE.exec(l);
    return m ? [{ level: m[1], text: m[2]!.trim() }] : [];
  });
  const fatal = leveled.filter((l) => l.level === "FTL").at(-1)?.text;
  const stderr = lines
    .filter((l) => l.startsWith("nats-server: "))
    .at(-1)
    ?.slice("nats-server: ".length);
  const error = leveled.filter((l) => l.level === "ERR").at(-1)?.text;
  const text = fatal ?? stderr ?? error;
  if (text === undefined || text === "") return undefined;
  const port = portProblem(text);
  return port ? { reason: portReason(port), port } : { reason: text };
}

function portProblem(text: string): NatsPortProblem | undefined {
  const bind = BIND_ERROR.exec(text);
  if (!bind) return undefined;
  return {
    listener: listenerOf(text),
    host: bind[1]!.replace(/^\[|\]$/g, "") || "every interface",
    port: Number(bind[2]),
    problem: bind[3]!.trim(),
  };
}

/** nats-server 2.10's words for each listener, e.g. "Error listening on leafnode port", "monitor port". */
function listenerOf(text: string): NatsListener {
  if (/leafnode/i.test(text)) return "leafnode";
  if (/monitor/i.test(text)) return "monitoring";
  if (/router|route|cluster/i.test(text)) return "cluster";
  if (/websocket/i.test(text)) return "websocket";
  if (/mqtt/i.test(text)) return "mqtt";
  return "client";
}

function portReason(p: NatsPortProblem): string {
  const where = `${p.listener} port ${p.port} (${p.host})`;
  return p.problem === "address already in use"
    ? `${where} is already in use`
    : `${where} cannot be listened on: ${p.problem}`;
}
