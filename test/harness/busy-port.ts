/**
 * A loopback port held by a plain TCP server of the test's own, so a nats-server told to listen there finds
 * it in use. Closed on disposal.
 *
 * @example
 * await using busy = await listenOnFreePort();
 * // start a server whose config names busy.port
 */
import { createServer } from "node:net";

export interface BusyPort extends AsyncDisposable {
  port: number;
}

/** Listens on a free port of 127.0.0.1 (the system picks it) and resolves once it is bound. */
export async function listenOnFreePort(): Promise<BusyPort> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("the busy port has no TCP address");
  return {
    port: address.port,
    [Symbol.asyncDispose]: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
