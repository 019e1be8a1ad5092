/**
 * The admin's session with the running hub, shared by every `tremesh admin` change in operator mode: two
 * connections (SYS to push account JWTs to the resolver, FED for the registry), so a change takes effect at
 * once and without a restart.
 *
 * Every change follows one order: new keys and creds are written first, then federation.json, then the JWTs
 * are pushed, then the registry learns of it. A push that fails leaves the folder complete, and
 * `tremesh admin push` (or the next hub start, which preloads accounts/) finishes the job.
 */
import { readFile } from "node:fs/promises";
import { jetstream } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { clientTlsOptions } from "../common/index.js";
import { Registry } from "../hub/index.js";
import type { AdminStore, FederationState } from "./admin-store.js";
import { CA_CERT } from "./admin-tls.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** One connection to the hub as a creds file of the admin folder (`relative` to it), failing at once if refused. */
export async function connectAsCreds(
  store: AdminStore,
  state: FederationState,
  relative: string,
  name: string,
): Promise<NatsConnection> {
  return connect({
    servers: state.hub.clientUrls,
    ...(state.tls ? { tls: clientTlsOptions({ caFile: store.path(CA_CERT) }, state.hub.clientUrls) } : {}),
    authenticator: credsAuthenticator(await readFile(store.path(relative))),
    name,
    timeout: 5_000,
    maxReconnectAttempts: 0,
  });
}

/** Opens the admin's two hub connections (SYS for pushes, FED for the registry), or says nothing was changed. */
export async function withHubAdmin<T>(
  store: AdminStore,
  state: FederationState,
  action: (sys: NatsConnection, registry: Registry) => Promise<T>,
): Promise<T> {
  const open = async (credsFile: string, name: string) => {
    try {
      return await connectAsCreds(store, state, credsFile, name);
    } catch (cause) {
      throw new CliError(
        `cannot reach the hub at ${state.hub.clientUrls.join(", ")} as the admin (${credsFile}): ${
          cause instanceof Error ? cause.message : String(cause)
        }; nothing was changed`,
        ExitCode.unavailable,
        { cause },
      );
    }
  };
  const sys = await open("system.creds", "tremesh-admin-system");
  try {
    const fed = await open("admin.creds", "tremesh-admin");
    try {
      return await action(sys, await Registry.open(jetstream(fed)));
    } finally {
      await fed.close().catch(() => undefined);
    }
  } finally {
    await sys.close().catch(() => undefined);
  }
}

interface ClaimUpdateReply {
  data?: { code?: number; message?: string };
  error?: { code?: number; description?: string };
}

/** Pushes one account JWT to the hub's resolver (`$SYS.REQ.CLAIMS.UPDATE`); throws with the server's reason. */
export async function pushAccountJwt(sys: NatsConnection, account: string, jwt: string): Promise<void> {
  let reply: ClaimUpdateReply;
  try {
    reply = (await sys.request("$SYS.REQ.CLAIMS.UPDATE", jwt, { timeout: 5_000 })).json<ClaimUpdateReply>();
  } catch (cause) {
    throw new CliError(
      `the hub did not take ${account}'s JWT: ${cause instanceof Error ? cause.message : String(cause)}; ` +
        "run 'tremesh admin push' when the hub is back",
      ExitCode.unavailable,
      { cause },
    );
  }
  if (reply.error || reply.data?.code !== 200) {
    throw new CliError(
      `the hub refused ${account}'s JWT: ${reply.error?.description ?? JSON.stringify(reply)}`,
      ExitCode.failed,
    );
  }
}
