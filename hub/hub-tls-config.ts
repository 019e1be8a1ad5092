/**
 * hub.yaml's `tls` section and the rule that puts it in force: a hub whose listeners leave loopback speaks TLS
 * on every one of them (client port, leafnode port, cluster routes, and the monitoring port when it leaves
 * loopback), unless hub.yaml says `insecure: true` out loud.
 *
 * @example
 * # hub.yaml
 * host: 0.0.0.0
 * tls:
 *   certFile: ./tls/hub.crt               # the node's certificate (then any intermediates), names the node's hosts
 *   keyFile: ./secrets/hub.key            # owner-only
 *   caFile: ./tls/federation-ca.crt       # issued the nodes' (and any leaves') certificates
 */
import {
  ConfigFileError,
  isLoopbackHost,
  type LoadedYaml,
  readServerTls,
  type ServerTlsFiles,
  TLS_VERSIONS,
  type TlsVersion,
} from "../common/index.js";
import { bool, type Infer, literal, obj, optional, str } from "../protocol/index.js";

const path = str({ min: 1, max: 4096 });

export const hubTlsSchema = obj({
  /** PEM certificate of this node (first), then any intermediates. Its names must include every host clients dial. */
  certFile: path,
  /** PEM private key of `certFile` (owner-only, like every secret). */
  keyFile: path,
  /** PEM CA certificate(s): issued this node's and the other nodes' certificates (routes verify each other). */
  caFile: path,
  /** Oldest TLS version accepted. Default "1.3": every tremesh party speaks it. */
  minVersion: optional(literal(...TLS_VERSIONS)),
  /**
   * Leaf links must also present a certificate issued by `caFile` (mutual TLS), on top of their credential, so a
   * copied creds file alone does not link. Default false.
   */
  leafClientCerts: optional(bool()),
});

/** hub.yaml's `tls`, read and checked. */
export interface HubTls {
  files: ServerTlsFiles;
  minVersion: TlsVersion;
  leafClientCerts: boolean;
}

/**
 * Reads `tls` and applies the plaintext rule to every address a listener binds (`host`, `cluster.host`,
 * `monitorHost`). Throws ConfigFileError naming the field.
 */
export async function loadHubTls(
  loaded: LoadedYaml,
  section: { tls?: Infer<typeof hubTlsSchema> | undefined; insecure?: boolean | undefined },
  hosts: { field: string; host: string }[],
): Promise<HubTls | undefined> {
  const c = section.tls;
  if (c === undefined) {
    const exposed = hosts.find((h) => !isLoopbackHost(h.host));
    if (exposed && section.insecure !== true) {
      throw new ConfigFileError(
        loaded.file,
        "tls",
        `is required: ${exposed.field} ${exposed.host} is not a loopback address, so every link to it would be plaintext. Give \`tls\` (certFile, keyFile, caFile; \`tremesh admin init\` makes them), or, only on a network you trust completely, set \`insecure: true\``,
      );
    }
    return undefined;
  }
  return {
    files: await readServerTls(loaded, c, "tls."),
    minVersion: c.minVersion ?? "1.3",
    leafClientCerts: c.leafClientCerts ?? false,
  };
}
