/**
 * PostgreSQL's out-of-band CancelRequest: a separate, unauthenticated 16-byte message carrying the
 * session's process id and secret key, which makes the server stop that session's current statement.
 * It needs no login, so it works under the task role's small CONNECTION LIMIT, and it reaches a
 * statement that is blocked (on a lock, say) where closing our socket would not.
 */
import { connect, type Socket } from "node:net";
import type pg from "pg";

/** Protocol code of a CancelRequest (1234 << 16 | 5678). */
const CANCEL_REQUEST_CODE = 80877102;
/** How long a cancel request may take before we give up on it (the server answers by closing at once). */
const CANCEL_TIMEOUT_MS = 5_000;

/** The session keys pg.Client received at login; undefined before login completes. */
export function sessionKeys(client: pg.Client): { processId: number; secretKey: number } | undefined {
  const { processID, secretKey } = client as unknown as { processID?: unknown; secretKey?: unknown };
  if (typeof processID !== "number" || typeof secretKey !== "number") return undefined;
  return { processId: processID, secretKey };
}

/**
 * Sends a CancelRequest for the session; resolves once the server has closed the socket (or on any
 * error: cancelling is best effort, and the statement timeout still bounds the statement).
 * `host` is a host name or, starting with "/", a unix socket directory.
 */
export function sendCancelRequest(
  host: string,
  port: number,
  keys: { processId: number; secretKey: number },
): Promise<void> {
  const message = Buffer.alloc(16);
  message.writeInt32BE(16, 0);
  message.writeInt32BE(CANCEL_REQUEST_CODE, 4);
  message.writeInt32BE(keys.processId, 8);
  message.writeInt32BE(keys.secretKey, 12);
  return new Promise((resolve) => {
    const socket: Socket = host.startsWith("/") ? connect(`${host}/.s.PGSQL.${port}`) : connect(port, host);
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(CANCEL_TIMEOUT_MS, done);
    socket.once("connect", () => socket.end(message));
    socket.once("close", done);
    socket.once("error", done);
  });
}
