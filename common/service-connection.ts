import { connect, type NatsConnection, type TlsOptions } from "@nats-io/transport-node";

/**
 * How tremesh's own long-running processes (the hub services and operations, a leaf's agent) connect to the
 * nats-server they run beside. No async stack traces: nats.js otherwise builds two Error objects with stack traces
 * for every request (every KV read and JetStream publish), which cost more CPU per task than all of its signing
 * and verifying (docs/performance.md). A timeout keeps its message; only the stack of the call that made it is lost.
 */
export const SERVICE_CONNECTION = { noAsyncTraces: true } as const;

/**
 * Connects a tremesh process to the nats-server it runs beside, as `login` (a user and password of that server's
 * config), with `SERVICE_CONNECTION`'s settings; the connection is named after the user. `tls` when the server
 * has TLS (`besideServerTlsOptions`).
 */
export function connectService(
  servers: string,
  login: { user: string; password: string },
  tls?: TlsOptions,
): Promise<NatsConnection> {
  return connect({
    ...SERVICE_CONNECTION,
    ...(tls ? { tls } : {}),
    servers,
    user: login.user,
    pass: login.password,
    name: login.user,
  });
}
