import { parseArgs } from "node:util";
import { CERTIFICATE_WARN_DAYS, type CertificateInfo, daysUntilExpiry } from "../common/index.js";
import { type HubNodeEvent, loadHubConfig, startHubNode } from "../hub/index.js";
import { type Command, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { errorFields, type Logger, processLogger } from "./logger.js";
import { runUntilSignal } from "./run-until-signal.js";
import { HUB_PORT_FIELDS, startFailure } from "./server-start-error.js";

export const hub: Command = {
  usage: "tremesh hub start --config hub.yaml",
  examples: ["tremesh hub start --config /etc/tremesh/hub.yaml"],
  async run(argv) {
    const [verb, ...rest] = argv;
    if (verb !== "start") throw usageError(`hub: expected 'start', got ${JSON.stringify(verb ?? "")}`);
    const { values } = parseArgs({ args: rest, options: { config: { type: "string" } }, strict: true });
    if (!values.config) throw usageError("hub start: --config FILE is required");
    const config = await loadHubConfig(values.config).catch((e: unknown) => {
      throw startFailure(e, values.config!, HUB_PORT_FIELDS);
    });
    const log = processLogger("tremesh-hub");
    if (config.insecure)
      log.warn(
        { host: config.host, monitorHost: config.monitorHost },
        "hub.yaml says insecure: true — listeners off loopback are PLAINTEXT; everything crossing the network can be read",
      );
    if (config.tls) warnOfExpiry(log, config.tls.files.certificate);
    const node = await startHubNode(config, { onEvent: (e) => logHubEvent(log, e) }).catch((e: unknown) => {
      throw startFailure(e, values.config!, HUB_PORT_FIELDS);
    });
    // SIGHUP (systemd's ExecReload) puts renewed certificates in force without dropping the federation.
    const onHangUp = () => {
      node.reloadTls().then(
        (certificate) => {
          log.info(
            { notAfter: certificate.notAfter.toISOString(), subject: certificate.subject },
            "tls reloaded",
          );
          warnOfExpiry(log, certificate);
        },
        (error: Error) => log.error(errorFields(error), "tls not reloaded; the certificates in force stay"),
      );
    };
    process.on("SIGHUP", onHangUp);
    await runUntilSignal(async () => {
      process.off("SIGHUP", onHangUp);
      log.info("stopping");
      await node.stop();
      log.info("stopped");
    });
    return ExitCode.ok;
  },
};

function warnOfExpiry(log: Logger, certificate: CertificateInfo): void {
  const days = daysUntilExpiry(certificate);
  if (days < CERTIFICATE_WARN_DAYS)
    log.warn(
      { subject: certificate.subject, notAfter: certificate.notAfter.toISOString(), days },
      "the hub's TLS certificate expires soon: renew it (tremesh admin tls renew) and reload (SIGHUP)",
    );
}

/** @internal exported for its test. */
export function logHubEvent(log: Logger, e: HubNodeEvent): void {
  const event = e.event;
  if (event.type === "error") {
    // A TRE's problem (operator mode: its registry entry or operations creds) names the TRE.
    const tre = "tre" in event && event.tre !== undefined ? { tre: event.tre } : {};
    log.error({ service: e.service, ...tre, ...errorFields(event.error) }, "service error");
    return;
  }
  if (event.type === "duplicate-link") {
    log.error(
      { service: e.service, tre: event.tre, remotes: event.remotes },
      "a TRE is linked twice: a copy of its leaf credential is in use (revoke it and issue new creds, or require leaf client certificates)",
    );
    return;
  }
  if (event.type === "refused") {
    // A TRE's heartbeats and Releases come signed with its key: one the hub does not hold for it means the TRE's
    // leaf.yaml names another seed than the one it registered, and nothing it releases reaches the researcher.
    const treKey = (e.service === "liveness" || e.service === "status") && event.code === "unknown_signer";
    log.warn(
      { service: e.service, ...event },
      treKey
        ? "refused: a TRE's message signed by a key the hub does not hold for that TRE; its leaf.yaml signingKeyFile " +
            "is not the seed whose public key was given to `tremesh admin add-tre` (the TRE shows offline, and its " +
            "Releases are refused)"
        : "refused",
    );
    return;
  }
  if (event.type === "not_queued") {
    log.warn({ service: e.service, ...event }, "a TRE's task queue at the hub is at a storage limit");
    return;
  }
  log.info({ service: e.service, ...event }, event.type);
}
