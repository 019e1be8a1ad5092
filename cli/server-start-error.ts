/**
 * `tremesh hub start` and `tremesh leaf start` when their nats-server does not start: one line that names the
 * cause first and the config field to change, with the server's log named for the rest, instead of the
 * launcher's error with thirty lines of start-up log in front of the cause.
 */
import {
  ConfigFileError,
  ConfigModelError,
  type NatsListener,
  NatsServerStartError,
} from "../common/index.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** Where a config file sets each listener's port, e.g. hub.yaml's leafnode port is `ports.leaf`. */
export type PortFields = Partial<Record<NatsListener, string>>;

export const HUB_PORT_FIELDS: PortFields = {
  client: "ports.client",
  leafnode: "ports.leaf",
  monitoring: "ports.monitor",
  cluster: "cluster.port",
};

export const LEAF_PORT_FIELDS: PortFields = { client: "ports.client", monitoring: "ports.monitor" };

/**
 * The CliError for a server that did not start from `configFile`: a cause its log names (a busy port, a config
 * it refused) is bad input the operator fixes; anything else (no answer in time, a binary that would not run) failed.
 */
export function serverStartError(e: NatsServerStartError, configFile: string, fields: PortFields): CliError {
  const log = e.logFile ? ` (the server's log: ${e.logFile})` : "";
  const port = e.failure?.port;
  if (port) {
    const field = fields[port.listener] ?? "its port";
    const advice =
      port.problem === "address already in use"
        ? `free it or change ${field} in ${configFile}`
        : `check ${field} and host in ${configFile}`;
    return new CliError(`${e.summary}; ${advice}${log}`, ExitCode.badInput, { cause: e });
  }
  return new CliError(`${e.summary}${log}`, e.failure ? ExitCode.badInput : ExitCode.failed, { cause: e });
}

/**
 * What `hub start` and `leaf start` say when loading `configFile` or starting from it fails: a server that did not
 * start (`serverStartError`), or a mistake in the file, found as it was read (ConfigFileError) or as the server's
 * config was made from it (ConfigModelError), as bad input. Anything else is returned as it is.
 */
export function startFailure(e: unknown, configFile: string, fields: PortFields): unknown {
  if (e instanceof NatsServerStartError) return serverStartError(e, configFile, fields);
  if (e instanceof ConfigFileError) return new CliError(e.message, ExitCode.badInput, { cause: e });
  if (e instanceof ConfigModelError)
    return new CliError(`${configFile}: ${e.message}`, ExitCode.badInput, { cause: e });
  return e;
}
