/**
 * The TLS files a config names, read and checked before any server or client uses them, so that a missing,
 * unreadable, expired or mismatched certificate or key is a ConfigFileError naming the field and the file at
 * start-up, not a handshake failure on the network later.
 *
 * - A **server** (a hub node) names its certificate (the leaf first, then any intermediates), its private key
 *   (owner-only, like every secret) and the CA that issued the federation's certificates (it verifies the other
 *   nodes' routes and, when required, the leaves' client certificates).
 * - A **client** (a leaf's hub link, a researcher's or admin's profile) pins the CA that issued the hub's
 *   certificate, and may present a certificate of its own (mutual TLS).
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import {
  ConfigFileError,
  configPath,
  type LoadedYaml,
  readConfiguredFile,
  readSecretFile,
} from "./config-file.js";

/** A certificate as tremesh reports it: never the key. */
export interface CertificateInfo {
  subject: string;
  /** DNS names and IP addresses of its subjectAltName. */
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 fingerprint, colon-separated hex (as `openssl x509 -fingerprint -sha256` shows it). */
  fingerprint256: string;
}

/** A server's certificate, key and CA, checked against each other. Paths are absolute (nats-server reads them). */
export interface ServerTlsFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
  certificate: CertificateInfo;
}

/** A client's pinned CA and optional certificate of its own. Paths are absolute. */
export interface ClientTlsFiles {
  caFile: string;
  certFile?: string;
  keyFile?: string;
  certificate?: CertificateInfo;
}

/** Days before expiry from which `hub start` warns (and `admin tls status` flags a certificate). */
export const CERTIFICATE_WARN_DAYS = 30;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** Every certificate of a PEM text, in order. Throws when it holds none. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERT) ?? [];
  if (blocks.length === 0) throw new Error("holds no PEM certificate");
  return blocks.map((block) => new X509Certificate(block));
}

/** What tremesh shows of a certificate. */
export function certificateInfo(cert: X509Certificate): CertificateInfo {
  const names = (cert.subjectAltName ?? "").split(/,\s*/).filter((n) => n !== "");
  return {
    subject: cert.subject.replace(/\n/g, ", "),
    dnsNames: names.filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4)),
    ipAddresses: names.filter((n) => n.startsWith("IP Address:")).map((n) => n.slice(11)),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    fingerprint256: cert.fingerprint256,
  };
}

/** Whole days until `info` expires (negative once it has). */
export function daysUntilExpiry(info: CertificateInfo, now = Date.now()): number {
  return Math.floor((info.notAfter.getTime() - now) / 86_400_000);
}

/**
 * Why `chain` (a certificate, then its intermediates) is not valid now under one of `cas`, or undefined when it
 * is: not yet valid, expired, or not issued (and signed) by the next certificate or a CA.
 */
export function chainProblem(
  chain: readonly X509Certificate[],
  cas: readonly X509Certificate[],
  now = Date.now(),
): string | undefined {
  for (const [i, cert] of chain.entries()) {
    const what = i === 0 ? "the certificate" : `intermediate ${i}`;
    if (Date.parse(cert.validFrom) > now) return `${what} is not valid before ${cert.validFrom}`;
    if (Date.parse(cert.validTo) < now) return `${what} expired on ${cert.validTo}`;
  }
  const issuedBy = (cert: X509Certificate, issuer: X509Certificate) =>
    cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i] as X509Certificate;
    const next = chain[i + 1];
    if (cas.some((ca) => issuedBy(cert, ca))) return undefined;
    if (next === undefined || !issuedBy(cert, next)) {
      return `${i === 0 ? "the certificate" : `intermediate ${i}`} (${cert.subject.replace(/\n/g, ", ")}) was not issued by the CA in caFile`;
    }
  }
  return "no certificate of the chain was issued by the CA in caFile";
}

/**
 * Reads and checks a server's TLS files: the certificate chain is valid now and issued by the CA, and the key
 * (an owner-only secret file) is the certificate's. `fields` names them as the config does, e.g. "tls.certFile".
 */
export async function readServerTls(
  loaded: LoadedYaml,
  section: { certFile: string; keyFile: string; caFile: string },
  prefix: string,
  now = Date.now(),
): Promise<ServerTlsFiles> {
  const cas = await readCaFile(loaded, section.caFile, `${prefix}caFile`);
  const { chain } = await readCertAndKey(loaded, section, prefix);
  const problem = chainProblem(chain, cas, now);
  if (problem !== undefined)
    throw new ConfigFileError(loaded.file, `${prefix}certFile`, `${section.certFile}: ${problem}`);
  return {
    certFile: configPath(loaded, section.certFile),
    keyFile: configPath(loaded, section.keyFile),
    caFile: configPath(loaded, section.caFile),
    certificate: certificateInfo(chain[0] as X509Certificate),
  };
}

/**
 * Reads and checks a client's TLS files: the pinned CA, and a client certificate and key when given (both or
 * neither; the certificate valid now and issued by `clientCaFile`'s CA when that is given, else by the pinned CA).
 */
export async function readClientTls(
  loaded: LoadedYaml,
  section: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined },
  prefix: string,
  now = Date.now(),
): Promise<ClientTlsFiles> {
  const cas = await readCaFile(loaded, section.caFile, `${prefix}caFile`);
  const caFile = configPath(loaded, section.caFile);
  if (section.certFile === undefined && section.keyFile === undefined) return { caFile };
  if (section.certFile === undefined || section.keyFile === undefined) {
    const missing = section.certFile === undefined ? "certFile" : "keyFile";
    throw new ConfigFileError(
      loaded.file,
      `${prefix}${missing}`,
      "is required: give certFile and keyFile together",
    );
  }
  const { chain } = await readCertAndKey(
    loaded,
    { certFile: section.certFile, keyFile: section.keyFile },
    prefix,
  );
  const problem = chainProblem(chain, cas, now);
  if (problem !== undefined)
    throw new ConfigFileError(loaded.file, `${prefix}certFile`, `${section.certFile}: ${problem}`);
  return {
    caFile,
    certFile: configPath(loaded, section.certFile),
    keyFile: configPath(loaded, section.keyFile),
    certificate: certificateInfo(chain[0] as X509Certificate),
  };
}

async function readCaFile(loaded: LoadedYaml, path: string, field: string): Promise<X509Certificate[]> {
  const text = await readPublicFile(loaded, path, field);
  try {
    const cas = parseCertificates(text);
    const notCa = cas.find((c) => !c.ca);
    if (notCa)
      throw new Error(`holds a certificate that is not a CA (${notCa.subject.replace(/\n/g, ", ")})`);
    return cas;
  } catch (cause) {
    throw new ConfigFileError(loaded.file, field, `${path} ${(cause as Error).message}`, { cause });
  }
}

async function readCertAndKey(
  loaded: LoadedYaml,
  section: { certFile: string; keyFile: string },
  prefix: string,
): Promise<{ chain: X509Certificate[]; key: KeyObject }> {
  const certText = await readPublicFile(loaded, section.certFile, `${prefix}certFile`);
  let chain: X509Certificate[];
  try {
    chain = parseCertificates(certText);
  } catch (cause) {
    throw new ConfigFileError(
      loaded.file,
      `${prefix}certFile`,
      `${section.certFile} ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  const keyText = await readSecretFile(loaded, `${prefix}keyFile`, section.keyFile);
  let key: KeyObject;
  try {
    key = createPrivateKey(keyText);
  } catch (cause) {
    // The parser's message may quote the key; say what is wrong without it.
    throw new ConfigFileError(
      loaded.file,
      `${prefix}keyFile`,
      `${section.keyFile} is not a PEM private key`,
      {
        cause,
      },
    );
  }
  if (!(chain[0] as X509Certificate).checkPrivateKey(key)) {
    throw new ConfigFileError(
      loaded.file,
      `${prefix}keyFile`,
      `${section.keyFile} is not the private key of the certificate in ${section.certFile}`,
    );
  }
  return { chain, key };
}

function readPublicFile(loaded: LoadedYaml, path: string, field: string): Promise<string> {
  return readConfiguredFile(loaded, field, path, {
    maxBytes: 1024 * 1024,
    secret: false,
    what: "a certificate file",
  });
}

/** Whether `host` (a URL's hostname, IPv6 in brackets or not) is a loopback address or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h.endsWith(".localhost")) return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1";
  return false;
}

/** URL schemes that are TLS by themselves. */
const TLS_SCHEMES = new Set(["tls:", "wss:", "https:"]);

/** Whether a NATS URL's scheme asks for TLS (`tls://`, `wss://`). */
export function isTlsUrl(url: string): boolean {
  try {
    return TLS_SCHEMES.has(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * The refusal rule for every link that may leave the machine: a URL to a non-loopback address must be TLS
 * (`tls://`, with a pinned CA), unless the config says `insecure: true`. Returns the problem, or undefined.
 */
export function plaintextProblem(
  url: string,
  tls: { caFile?: string | undefined },
  insecure: boolean | undefined,
  fields: { caFile: string; insecure: string },
): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // the URL's own check reports it
  }
  if (isTlsUrl(url)) {
    return tls.caFile === undefined
      ? `${url} is TLS: give \`${fields.caFile}\`, the federation CA's certificate that the hub's certificate must chain to`
      : undefined;
  }
  if (tls.caFile !== undefined)
    return `${url} is not a TLS URL although \`${fields.caFile}\` is given: use tls://${parsed.host}`;
  if (isLoopbackHost(parsed.hostname) || insecure === true) return undefined;
  return `${url} would send everything in plaintext to a non-loopback address: use tls://${parsed.host} with \`${fields.caFile}\` (the federation CA's certificate), or, only on a network you trust completely, set \`${fields.insecure}: true\``;
}
