import { parseArgs } from "node:util";
import { ConfigFileError } from "../common/index.js";
import { type HubNodeEvent, loadHubConfig, startHubNode } from "../hub/index.js";
import { type Command, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { errorFields, type Logger, processLogger } from "./logger.js";
import { runUntilSignal } from "./run-until-signal.js";

export const hub: Command = {
  name: "hub",
  summary: "run the federation hub: nats-server (JetStream domain hub) and the hub services",
  usage: "tremesh hub start --config hub.yaml",
  examples: ["tremesh hub start --config /etc/tremesh/hub.yaml"],
  async run(argv) {
    const [verb, ...rest] = argv;
    if (verb !== "start") throw usageError(`hub: expected 'start', got ${JSON.stringify(verb ?? "")}`);
    const { values } = parseArgs({ args: rest, options: { config: { type: "string" } }, strict: true });
    if (!values.config) throw usageError("hub start: --config FILE is required");
    const config = await loadHubConfig(values.config).catch((e: unknown) => {
      if (e instanceof ConfigFileError) throw new CliError(e.message, ExitCode.badInput, { cause: e });
      throw e;
    });
    const log = processLogger("tremesh-hub");
    const node = await startHubNode(config, { onEvent: (e) => logHubEvent(log, e) });
    await runUntilSignal(async () => {
      log.info("stopping");
      await node.stop();
      log.info("stopped");
    });
    return ExitCode.ok;
  },
};

function logHubEvent(log: Logger, e: HubNodeEvent): void {
  const event = e.event;
  if (event.type === "error") {
    // A TRE's problem (operator mode: its registry entry or operations creds) names the TRE.
    const tre = "tre" in event && event.tre !== undefined ? { tre: event.tre } : {};
    log.error({ service: e.service, ...tre, ...errorFields(event.error) }, "service error");
    return;
  }
  if (event.type === "refused") {
    log.warn({ service: e.service, ...event }, "refused");
    return;
  }
  log.info({ service: e.service, ...event }, event.type);
}
