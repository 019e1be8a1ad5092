/**
 * A hub node's own side of its TLS: how its processes (services, operations, the cluster and link watches) connect
 * to the TLS client port beside them, and putting renewed certificates in force on a running node.
 */
import {
  besideServerTlsOptions,
  type CertificateInfo,
  ConfigFileError,
  type NatsServerHandle,
} from "../common/index.js";
import { type HubConfig, loadHubConfig } from "./hub-config.js";

/** How the hub's own processes connect to its TLS client port, as connection options to spread (none without TLS). */
export function ownTls(config: HubConfig): { tls?: ReturnType<typeof besideServerTlsOptions> } {
  return config.tls ? { tls: besideServerTlsOptions(config.tls.files) } : {};
}

/**
 * Reads hub.yaml and its TLS files again, checks them as a start does, and has nats-server reload (SIGHUP): links
 * made before stay up, new ones get the new certificate. Throws ConfigFileError, changing nothing, for files that do
 * not pass or for a `tls` section that appeared, vanished or names other files (those need a restart).
 */
export async function reloadHubTls(config: HubConfig, server: NatsServerHandle): Promise<CertificateInfo> {
  const fresh = await loadHubConfig(config.file);
  if (!fresh.tls)
    throw new ConfigFileError(
      config.file,
      "tls",
      "is gone: a running hub keeps TLS (restart it to drop TLS)",
    );
  if (!config.tls) throw new ConfigFileError(config.file, "tls", "is new: restart the hub to start TLS");
  const sameFiles = (["certFile", "keyFile", "caFile"] as const).every(
    (f) => fresh.tls?.files[f] === config.tls?.files[f],
  );
  if (!sameFiles)
    throw new ConfigFileError(
      config.file,
      "tls",
      "names other files than at start: renew the files in place, or restart",
    );
  await server.reload();
  return fresh.tls.files.certificate;
}
