/**
 * The federation admin's TLS files: the CA every party pins and each hub node's certificate, either issued by a
 * private federation CA made here (the CA key stays in the admin folder's `keys/`) or copied from the operator's
 * own PKI (the usual case in an organisation). `tremesh admin tls renew` re-issues the nodes' certificates from the
 * private CA; the hub puts them in force on SIGHUP without dropping the federation.
 *
 * Layout in the admin folder:
 * - `tls/ca.crt`: the CA certificate, copied into every onboarding bundle as `federation-ca.crt`;
 * - `keys/federation-ca.key`: the private CA's key (absent with the operator's own PKI);
 * - `hub/tls/ca.crt`, `hub/tls/<node>.crt` and `hub/secrets/<node>.key`: what each hub.yaml names.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import {
  type CertificateInfo,
  certificateInfo,
  chainProblem,
  isSystemError,
  parseCertificates,
  systemErrorWhy,
} from "../common/index.js";
import { AdminError, AdminErrorCode } from "./admin-error.js";
import type { AdminStore } from "./admin-store.js";
import {
  createFederationCa,
  type IssuedPem,
  issueCertificate,
  NODE_VALIDITY_DAYS,
} from "./federation-pki.js";

export const CA_CERT = "tls/ca.crt";
const CA_KEY = "keys/federation-ca.key";
/** A bundle's copy of the CA certificate, beside its leaf.yaml or profile. */
export const BUNDLE_CA = "federation-ca.crt";

/** One hub node's TLS need: its name, and every host name or address clients and TREs dial it by. */
export interface NodeTlsPlan {
  name: string;
  hosts: string[];
}

/** The operator's own PKI: the CA certificate(s) and, per node, its certificate and key files. */
export interface ExternalTls {
  caFile: string;
  nodes: Record<string, { certFile: string; keyFile: string }>;
}

/** What hub.yaml's `tls` names, relative to the hub folder. */
export function hubTlsSection(node: string): { certFile: string; keyFile: string; caFile: string } {
  return { certFile: `./tls/${node}.crt`, keyFile: `./secrets/${node}.key`, caFile: "./tls/ca.crt" };
}

/**
 * Writes the CA and every node's certificate into the admin folder: issued by a new private CA, or copied from
 * `external` after checking each certificate chains to its CA, is valid now, matches its key and names the
 * node's hosts.
 */
export async function writeFederationTls(
  store: AdminStore,
  nodes: readonly NodeTlsPlan[],
  external?: ExternalTls,
): Promise<"private" | "external"> {
  if (external === undefined) {
    const ca = await createFederationCa({ name: "tremesh federation CA" });
    await store.writeSecret(CA_KEY, ca.keyPem);
    await writeCa(store, ca.certPem);
    for (const node of nodes) await writeNode(store, node.name, await issueNode(ca, node));
    return "private";
  }
  const caPem = await readOperatorFile(external.caFile, "--tls-ca");
  let cas: X509Certificate[];
  try {
    cas = parseCertificates(caPem);
  } catch (cause) {
    throw new AdminError(`--tls-ca ${external.caFile} ${(cause as Error).message}`, AdminErrorCode.badInput, {
      cause,
    });
  }
  for (const node of nodes) {
    const files = external.nodes[node.name];
    if (files === undefined)
      throw new AdminError(
        `no certificate for hub node ${node.name}: give --tls-cert ${node.name}=FILE and --tls-key ${node.name}=FILE`,
        AdminErrorCode.usage,
      );
    const certPem = await readOperatorFile(files.certFile, `--tls-cert ${node.name}`);
    const keyPem = await readOperatorFile(files.keyFile, `--tls-key ${node.name}`);
    checkNodeCertificate(node, { certPem, keyPem }, cas, files.certFile);
  }
  await writeCa(store, caPem);
  for (const node of nodes) {
    const files = external.nodes[node.name] as { certFile: string; keyFile: string };
    await writeNode(store, node.name, {
      certPem: await readFile(files.certFile, "utf8"),
      keyPem: await readFile(files.keyFile, "utf8"),
    });
  }
  return "external";
}

/**
 * `tremesh admin tls renew`: a new certificate and key for every hub node, from the private CA, naming the same
 * hosts as the one it replaces. Returns each node's new certificate; the hub needs SIGHUP to use them.
 */
export async function renewNodeCertificates(
  store: AdminStore,
  nodes: readonly string[],
  validityDays = NODE_VALIDITY_DAYS,
): Promise<Record<string, CertificateInfo>> {
  const ca = await privateCa(store);
  const renewed: Record<string, CertificateInfo> = {};
  for (const name of nodes) {
    const current = certificateInfo(
      new X509Certificate(await readFile(store.path("hub", "tls", `${name}.crt`))),
    );
    const issued = await issueNode(
      ca,
      { name, hosts: [...current.dnsNames, ...current.ipAddresses] },
      validityDays,
    );
    await writeNode(store, name, issued);
    renewed[name] = certificateInfo(new X509Certificate(issued.certPem));
  }
  return renewed;
}

/** Every hub node's certificate as the admin folder holds it. */
export async function nodeCertificates(
  store: AdminStore,
  nodes: readonly string[],
): Promise<Record<string, CertificateInfo>> {
  const out: Record<string, CertificateInfo> = {};
  for (const name of nodes)
    out[name] = certificateInfo(new X509Certificate(await readFile(store.path("hub", "tls", `${name}.crt`))));
  return out;
}

/** Issues a client certificate for a TRE's leaf link (mutual TLS), from the private CA. */
export async function issueLeafCertificate(store: AdminStore, tre: string): Promise<IssuedPem> {
  return issueCertificate(await privateCa(store), { commonName: `leaf-${tre}`, hosts: [], usage: "client" });
}

async function privateCa(store: AdminStore): Promise<IssuedPem> {
  const keyPem = await readFile(store.path(CA_KEY), "utf8").catch((cause: unknown) => {
    throw new AdminError(
      `${store.path(CA_KEY)} is missing: this federation's certificates come from the operator's own PKI, so renew them there and copy them into ${store.path("hub", "tls")}`,
      AdminErrorCode.failed,
      { cause },
    );
  });
  return { certPem: await readFile(store.path(CA_CERT), "utf8"), keyPem };
}

function issueNode(ca: IssuedPem, node: NodeTlsPlan, validityDays = NODE_VALIDITY_DAYS): Promise<IssuedPem> {
  return issueCertificate(ca, { commonName: node.name, hosts: node.hosts, usage: "node", validityDays });
}

async function writeCa(store: AdminStore, pem: string): Promise<void> {
  await store.writePublic(CA_CERT, pem);
  await store.writePublic("hub/tls/ca.crt", pem);
}

async function writeNode(store: AdminStore, node: string, issued: IssuedPem): Promise<void> {
  await store.writePublic(`hub/tls/${node}.crt`, issued.certPem);
  await store.writeSecret(`hub/secrets/${node}.key`, issued.keyPem);
}

async function readOperatorFile(path: string, flag: string): Promise<string> {
  return readFile(path, "utf8").catch((cause: unknown) => {
    throw new AdminError(
      `${flag} ${path}: cannot read it: ${isSystemError(cause) ? systemErrorWhy(cause) : String(cause)}`,
      AdminErrorCode.badInput,
      { cause },
    );
  });
}

function checkNodeCertificate(node: NodeTlsPlan, pem: IssuedPem, cas: X509Certificate[], file: string): void {
  const fail = (problem: string) => {
    throw new AdminError(`--tls-cert ${node.name}=${file}: ${problem}`, AdminErrorCode.badInput);
  };
  let chain: X509Certificate[] = [];
  try {
    chain = parseCertificates(pem.certPem);
  } catch (cause) {
    fail((cause as Error).message);
  }
  const leaf = chain[0] as X509Certificate;
  const problem = chainProblem(chain, cas);
  if (problem !== undefined) fail(problem);
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(pem.keyPem)))
      fail(`the key given with --tls-key ${node.name} is not this certificate's`);
  } catch (cause) {
    if (cause instanceof AdminError) throw cause;
    fail(`--tls-key ${node.name} is not a PEM private key`);
  }
  const missing = node.hosts.filter((h) =>
    isIP(h) === 0 ? leaf.checkHost(h) === undefined : leaf.checkIP(h) === undefined,
  );
  if (missing.length > 0)
    fail(`does not name ${missing.join(", ")}, which clients and TREs dial (subjectAltName)`);
}
