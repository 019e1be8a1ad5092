/**
 * The TLS flags of `tremesh admin init` and `tremesh admin tls status|renew`: the CLI side of admin-tls.ts.
 */
import { readdir } from "node:fs/promises";
import { AdminStore, type ExternalTls, nodeCertificates, renewNodeCertificates } from "../admin/index.js";
import { CERTIFICATE_WARN_DAYS, type CertificateInfo, daysUntilExpiry } from "../common/index.js";
import { type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";

/** `init`'s TLS choice from its flags: a private CA (none given), the operator's PKI, or none. */
export function initTlsOption(values: {
  "tls-ca"?: string | undefined;
  "tls-cert"?: string[] | undefined;
  "tls-key"?: string[] | undefined;
  "no-tls"?: boolean | undefined;
  insecure?: boolean | undefined;
}): { tls?: { external?: ExternalTls } | false; insecure?: boolean } {
  const external =
    values["tls-ca"] !== undefined || values["tls-cert"] !== undefined || values["tls-key"] !== undefined;
  if (values["no-tls"]) {
    if (external) throw usageError("admin init: --no-tls cannot go with --tls-ca, --tls-cert or --tls-key");
    return { tls: false, ...(values.insecure ? { insecure: true } : {}) };
  }
  if (values.insecure) throw usageError("admin init: --insecure goes only with --no-tls");
  if (!external) return {};
  if (values["tls-ca"] === undefined)
    throw usageError("admin init: --tls-cert and --tls-key need --tls-ca FILE (your CA's certificate)");
  const nodes: ExternalTls["nodes"] = {};
  for (const [flag, key] of [
    ["--tls-cert", "certFile"],
    ["--tls-key", "keyFile"],
  ] as const) {
    for (const value of values[flag === "--tls-cert" ? "tls-cert" : "tls-key"] ?? []) {
      const match = /^([^=\s]+)=(.+)$/.exec(value);
      if (!match) throw usageError(`admin init: ${flag} ${JSON.stringify(value)} is not NODE=FILE`);
      const [, node, file] = match as unknown as [string, string, string];
      nodes[node] = { ...(nodes[node] ?? { certFile: "", keyFile: "" }), [key]: file };
    }
  }
  for (const [node, files] of Object.entries(nodes)) {
    if (files.certFile === "" || files.keyFile === "")
      throw usageError(
        `admin init: hub node ${node} needs both --tls-cert ${node}=FILE and --tls-key ${node}=FILE`,
      );
  }
  return { tls: { external: { caFile: values["tls-ca"], nodes } } };
}

/** `tremesh admin tls status | renew`. */
export async function tlsCommand(
  rest: string[],
  values: { dir?: string | undefined; json?: boolean | undefined; days?: string | undefined },
  io: Io,
): Promise<number> {
  const [verb] = rest;
  const store = AdminStore.locate(values.dir);
  const state = await store.load();
  if (!state.tls)
    throw new CliError(
      `${store.dir}: this federation's hub has no TLS (made with --no-tls)`,
      ExitCode.failed,
    );
  const nodes = await nodeNamesIn(store);
  if (verb === "status") {
    const certs = await nodeCertificates(store, nodes);
    const soon = Object.values(certs).some((c) => daysUntilExpiry(c) < CERTIFICATE_WARN_DAYS);
    show(io, values.json, { ca: state.tls.ca, nodes: certs }, certs);
    return soon ? ExitCode.failed : ExitCode.ok;
  }
  if (verb === "renew") {
    const days = values.days === undefined ? undefined : Number(values.days);
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 825))
      throw usageError("admin tls renew: --days must be a whole number from 1 to 825");
    if (state.tls.ca !== "private")
      throw new CliError(
        "admin tls renew: this federation's certificates come from your own PKI; renew them there and copy them into hub/tls/ and hub/secrets/",
        ExitCode.failed,
      );
    const certs = await renewNodeCertificates(store, nodes, days);
    show(io, values.json, { renewed: certs }, certs);
    if (!values.json)
      io.out(
        "next: copy hub/tls/ and hub/secrets/ to each node and reload it (SIGHUP, e.g. systemctl reload tremesh-hub@hub-1)",
      );
    return ExitCode.ok;
  }
  throw usageError(`admin tls: expected 'status' or 'renew', got ${JSON.stringify(verb ?? "")}`);
}

function show(
  io: Io,
  json: boolean | undefined,
  value: unknown,
  certs: Record<string, CertificateInfo>,
): void {
  if (json) {
    io.out(JSON.stringify(value, null, 2));
    return;
  }
  for (const [node, c] of Object.entries(certs)) {
    const days = daysUntilExpiry(c);
    const names = [...c.dnsNames, ...c.ipAddresses].join(", ");
    io.out(
      `${node.padEnd(12)} expires ${c.notAfter.toISOString().slice(0, 10)} (${days} days${days < CERTIFICATE_WARN_DAYS ? " — RENEW" : ""})  names ${names}`,
    );
  }
}

/** The nodes whose certificates the admin folder holds: `hub/tls/<node>.crt`, the CA's copy aside. */
async function nodeNamesIn(store: AdminStore): Promise<string[]> {
  const names = (await readdir(store.path("hub", "tls")).catch(() => []))
    .filter((f) => f.endsWith(".crt") && f !== "ca.crt")
    .map((f) => f.slice(0, -4))
    .sort();
  if (names.length === 0)
    throw new CliError(
      `${store.path("hub", "tls")} holds no hub node certificate (<node>.crt)`,
      ExitCode.failed,
    );
  return names;
}
