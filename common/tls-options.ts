/**
 * How checked TLS files become nats-server config blocks and nats.js connection options: one place, so the hub's
 * listeners, the leaf's hub link, the hub's own services and the CLI's profiles all speak TLS the same way.
 */
import { isIP } from "node:net";
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import type { ConfMap } from "./nats-conf.js";
import type { CertificateInfo, ClientTlsFiles, ServerTlsFiles } from "./tls-files.js";

/** TLS versions nats-server 2.10 takes as `min_version`. */
export const TLS_VERSIONS = ["1.2", "1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/**
 * Seconds a TLS handshake may take before nats-server drops the connection. Its default (0.5 s) fails handshakes
 * on a loaded two-core machine, and a dropped leaf link costs far more than a slow handshake.
 */
export const TLS_HANDSHAKE_TIMEOUT_S = 5;

/**
 * How long the client port waits for a client's TLS handshake before it falls back to sending its INFO in the
 * clear for a client that upgrades only after reading it. tremesh's own clients start with the handshake, so nothing
 * of theirs, not even the server's INFO (its name, version, the client's address), crosses a network in plaintext.
 */
export const TLS_FIRST_FALLBACK = "500ms";

/**
 * A nats-server `tls { … }` block for a listener (client port, leafnode port, cluster routes). With `verify`,
 * the peer must present a certificate issued by the CA (routes always; leaf links when the hub requires it).
 * `handshakeFirst`: `true` (the leafnode port: every leaf starts with the handshake), a fallback duration (the client
 * port), or absent (routes).
 */
export function serverTlsBlock(
  files: ServerTlsFiles,
  options: { verify: boolean; minVersion: TlsVersion; handshakeFirst?: true | string },
): ConfMap {
  return {
    cert_file: files.certFile,
    key_file: files.keyFile,
    ca_file: files.caFile,
    verify: options.verify ? true : undefined,
    min_version: options.minVersion,
    timeout: TLS_HANDSHAKE_TIMEOUT_S,
    handshake_first: options.handshakeFirst,
  };
}

/**
 * A nats-server leafnode remote's `tls { … }` block: the pinned CA, and the TRE's own certificate when it has one.
 * The leaf starts with the handshake, as the hub's leafnode port requires: nothing of the link is ever in the clear.
 */
export function remoteTlsBlock(files: ClientTlsFiles): ConfMap {
  return {
    ca_file: files.caFile,
    cert_file: files.certFile,
    key_file: files.keyFile,
    timeout: TLS_HANDSHAKE_TIMEOUT_S,
    handshake_first: true,
  };
}

/**
 * nats.js's `tls` connection option for a client that pins `files.caFile` (and presents its certificate, if any)
 * and dials `servers`. A server dialled by name is checked against that name by node itself; one dialled by IP
 * address is not (nats.js sets no server name for it, and node then checks "localhost"), so its certificate is
 * checked here against the addresses the client was given.
 */
export function clientTlsOptions(
  files: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined },
  servers: readonly string[],
): {
  caFile: string;
  handshakeFirst: true;
  certFile?: string;
  keyFile?: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  const addresses = servers.map(hostOf).filter((h) => isIP(h) !== 0);
  return {
    caFile: files.caFile,
    // The hub's client port takes the handshake first (TLS_FIRST_FALLBACK), so not even its INFO is in the clear.
    handshakeFirst: true,
    ...(files.certFile === undefined ? {} : { certFile: files.certFile }),
    ...(files.keyFile === undefined ? {} : { keyFile: files.keyFile }),
    ...(addresses.length === 0
      ? {}
      : {
          checkServerIdentity: (host: string, cert: PeerCertificate) => {
            if (isIP(host) === 0 && host !== "localhost") return checkServerIdentity(host, cert);
            const errors = addresses.map((a) => checkServerIdentity(a, cert));
            return errors.some((e) => e === undefined) ? undefined : errors[0];
          },
        }),
  };
}

function hostOf(url: string): string {
  try {
    return new URL(url.includes("://") ? url : `nats://${url}`).hostname.replace(/^\[|\]$/g, "");
  } catch {
    return "";
  }
}

/**
 * TLS options for a process connecting to the server it runs beside (the hub's services, on loopback): the
 * server's certificate is checked against the CA and against one of the names the certificate itself carries,
 * since an organisation's certificate for `hub-1.example.org` does not name 127.0.0.1.
 */
export function besideServerTlsOptions(files: ServerTlsFiles): {
  caFile: string;
  handshakeFirst: true;
  checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
} {
  const name = ownName(files.certificate);
  return {
    caFile: files.caFile,
    handshakeFirst: true,
    checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert),
  };
}

function ownName(cert: CertificateInfo): string {
  const name = cert.dnsNames.find((n) => !n.startsWith("*")) ?? cert.ipAddresses[0];
  if (name === undefined) throw new Error(`the certificate ${cert.subject} names no host (subjectAltName)`);
  return name;
}
