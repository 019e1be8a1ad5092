import { parseArgs } from "node:util";
import { type Command, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { keygen } from "./keygen.js";
import { errorFields, processLogger } from "./logger.js";
import { runUntilSignal } from "./run-until-signal.js";
import { LEAF_PORT_FIELDS, startFailure } from "./server-start-error.js";

export const leaf: Command = {
  usage: "tremesh leaf start --config leaf.yaml | leaf keygen --out FILE [--json]",
  examples: [
    "tremesh leaf keygen --out tre-north.seed   # the TRE's signing key; give the admin the printed public key",
    "tremesh leaf start --config /etc/tremesh/leaf.yaml",
  ],
  async run(argv, io) {
    const [verb, ...rest] = argv;
    // The TRE's signing key is made here, inside the TRE: only its public key ever goes to the admin.
    if (verb === "keygen") return keygen.run([...rest, "--kind", "user"], io);
    if (verb !== "start")
      throw usageError(`leaf: expected 'start' or 'keygen', got ${JSON.stringify(verb ?? "")}`);
    const { values } = parseArgs({ args: rest, options: { config: { type: "string" } }, strict: true });
    if (!values.config) throw usageError("leaf start: --config FILE is required");
    // Loaded when a leaf starts, not with every command line: the executors bring DuckDB, PostgreSQL and Docker.
    const {
      approvalWarnings,
      containerStartWarnings,
      datasetFileWarnings,
      loadLeafConfig,
      missingImageWarning,
      startLeafNode,
    } = await import("../leaf/index.js");
    const config = await loadLeafConfig(values.config).catch((e: unknown) => {
      throw startFailure(e, values.config!, LEAF_PORT_FIELDS);
    });
    const log = processLogger(`tremesh-leaf-${config.tre}`);
    if (config.hub.insecure)
      log.warn(
        { tre: config.tre, urls: config.hub.urls },
        "leaf.yaml says hub.insecure: true — the hub link is PLAINTEXT; tasks and released results can be read on the network",
      );
    for (const warning of approvalWarnings(config)) log.warn({ tre: config.tre }, warning);
    for (const warning of await datasetFileWarnings(config)) log.warn({ tre: config.tre }, warning);
    for (const warning of await containerStartWarnings(config)) log.warn({ tre: config.tre }, warning);
    const node = await startLeafNode(config, {
      onEvent: (e) => {
        if (e.type === "error") log.error(errorFields(e.error), "error");
        else if (e.type === "hub-tls-refused")
          log.error(
            { tre: config.tre, url: e.url, reason: e.reason },
            "the hub's certificate is not accepted: the link cannot come up (check hub.caFile and the URL's host name)",
          );
        else if (e.type === "hub-link-down")
          log.error(
            { tre: config.tre, urls: config.hub.urls, downForMs: e.downForMs, serverLog: e.serverLog },
            `no link to the hub after ${Math.round(e.downForMs / 1000)} s${e.serverSays ? `; the leaf's server says: ${e.serverSays}` : ""}` +
              " (a refused link: is this TRE revoked, or hub-link.creds another federation's? unreachable: is the hub up, is hub.urls right?)",
          );
        else if (e.type === "postgres-privileges")
          log.warn({ tre: config.tre, user: config.postgres?.user }, `PostgreSQL: ${e.problem}`);
        else if (e.type === "postgres-unavailable") log.error({ tre: config.tre }, e.problem);
        else if (e.type === "hub-link-up")
          log.info({ tre: config.tre, downForMs: e.downForMs }, "the link to the hub is up");
        else if (e.type === "agent" && e.event.type === "error") {
          log.error({ taskId: e.event.taskId, ...errorFields(e.event.error) }, "agent error");
        } else if (e.type === "agent" && e.event.type === "airlock" && "error" in e.event.event) {
          // A reviewer notice or a Release that did not go: the airlock tries the Release again itself.
          const { error, ...event } = e.event.event;
          log.warn({ tre: config.tre, ...event, ...errorFields(error) }, `airlock ${event.type}`);
        } else if (e.type === "agent" && e.event.type === "refused") {
          // A message dead-lettered: a warning, as the hub logs its refusals. One refused for its signer names leaf.yaml's
          // hub.publicKey (Agent's refusals): after a hub key change, or with the wrong key pinned, every task.
          log.warn({ tre: config.tre, ...e.event }, `agent refused (${values.config})`);
        } else if (e.type === "agent" && e.event.type === "image-missing") {
          // The researcher's executor_error names no field; leaf.yaml's allow-list and the engine are the operator's.
          log.warn({ tre: config.tre, ...e.event }, missingImageWarning(config, e.event));
        } else if (e.type === "agent") log.info({ tre: config.tre, ...e.event }, `agent ${e.event.type}`);
        else log.info({ tre: config.tre, ...e }, e.type);
      },
    }).catch((e: unknown) => {
      throw startFailure(e, values.config!, LEAF_PORT_FIELDS);
    });
    await runUntilSignal(async () => {
      log.info("stopping");
      await node.stop();
      log.info("stopped");
    });
    return ExitCode.ok;
  },
};
