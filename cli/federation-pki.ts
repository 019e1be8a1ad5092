/**
 * The federation's own private PKI, for operators without an organisation's: one CA (kept by the federation
 * admin) that issues each hub node a certificate naming the hosts clients and TREs dial, and, for TREs that want
 * mutual TLS, a client certificate for their leaf link. ECDSA P-256 throughout (every TLS stack tremesh meets speaks
 * it), built with @peculiar/x509 over node's WebCrypto.
 *
 * @example
 * const ca = await createFederationCa({ name: "tremesh federation" });
 * const node = await issueCertificate(ca, { commonName: "hub-1", hosts: ["hub-1.example.org", "192.0.2.10"], usage: "node" });
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import * as x509 from "@peculiar/x509";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

x509.cryptoProvider.set(webcrypto as Parameters<typeof x509.cryptoProvider.set>[1]);

const KEY_ALGORITHM = { name: "ECDSA", namedCurve: "P-256" } as const;
const SIGNING_ALGORITHM = { name: "ECDSA", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. The key is a secret: owner-only files, never logged. */
export interface IssuedPem {
  certPem: string;
  keyPem: string;
}

/** Default lifetimes: the CA outlives many renewals; node certificates are renewed yearly (`admin tls renew`). */
export const CA_VALIDITY_DAYS = 3650;
export const NODE_VALIDITY_DAYS = 365;

/** Makes a self-signed CA that may sign end-entity certificates only (path length 0). */
export async function createFederationCa(options: {
  name: string;
  validityDays?: number;
  now?: Date;
}): Promise<IssuedPem> {
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const notBefore = new Date((options.now ?? new Date()).getTime() - 5 * 60_000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [options.name] }, { O: ["tremesh federation"] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + (options.validityDays ?? CA_VALIDITY_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys: keys as CryptoKeyPair,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey as CryptoKey) };
}

export interface CertificateRequest {
  commonName: string;
  /** DNS names and IP addresses the certificate names (subjectAltName); a node's must include every host dialled. */
  hosts: readonly string[];
  /**
   * "node": a hub node, server and client (its routes dial the other nodes with it); "client": a TRE's leaf link
   * presenting itself to the hub.
   */
  usage: "node" | "client";
  validityDays?: number;
  /** Issue as of this time (tests make expired and not-yet-valid certificates with it). Default now. */
  now?: Date;
}

/** Issues a certificate signed by `ca`, with a fresh key. */
export async function issueCertificate(ca: IssuedPem, request: CertificateRequest): Promise<IssuedPem> {
  if (request.usage === "node" && request.hosts.length === 0)
    throw new Error(`a node certificate needs at least one host name (${request.commonName})`);
  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = await importKey(ca.keyPem);
  const keys = await webcrypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const notBefore = new Date((request.now ?? new Date()).getTime() - 5 * 60_000);
  const usages =
    request.usage === "node"
      ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
      : [x509.ExtendedKeyUsage.clientAuth];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [request.commonName] }],
    issuer: caCert.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (request.validityDays ?? NODE_VALIDITY_DAYS) * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey as CryptoKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      ...(request.hosts.length === 0
        ? []
        : [new x509.SubjectAlternativeNameExtension(request.hosts.map(altName))]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey as CryptoKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString("pem"), keyPem: await keyPem(keys.privateKey as CryptoKey) };
}

function altName(host: string): { type: "ip" | "dns"; value: string } {
  const bare = host.replace(/^\[|\]$/g, "");
  return isIP(bare) === 0 ? { type: "dns", value: bare } : { type: "ip", value: bare };
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decodeFirst(pem);
  return (await webcrypto.subtle.importKey("pkcs8", der, KEY_ALGORITHM, false, ["sign"])) as CryptoKey;
}

/** A positive 16-byte serial number, hex. */
function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] as number) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
