/**
 * Writes a whole federation's files into one folder, as an operator would lay them out by hand: the
 * hub's `hub.yaml`, one `leaf-<tre>.yaml` per TRE, a connection profile per researcher, one for the
 * admin and one per TRE reviewer (`reviewer-<tre>-<name>.profile.yaml`, reaching that TRE's leaf), and every secret (passwords, nkey seeds) in its own 0600 file under `secrets/`. Used by
 * `tremesh demo` and the end-to-end tests, which then run the real `hub start` / `leaf start`.
 */

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { stringify } from "yaml";
import { LOOPBACK_HOST, randomPassword } from "../common/index.js";
import { treAccountName } from "../hub/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { BUNDLE_CA } from "./admin-tls.js";
import { createFederationCa, issueCertificate } from "./federation-pki.js";

export interface FederationPlan {
  tres: readonly string[];
  /** Researcher names; each gets a hub connection user and a signing key. Default ["alice"]. */
  researchers?: readonly string[];
  /** Extra `leaf-<tre>.yaml` content per TRE (projects, datasets, …), merged over the generated base. */
  leafExtra?: (
    tre: string,
    ctx: { researchers: { name: string; publicKey: string }[] },
  ) => Record<string, unknown>;
  /** Reviewers of every TRE; each gets a signing key and a login on that TRE's leaf. Default ["rita"]. */
  reviewers?: readonly string[];
  /** Heartbeat interval of every leaf, in ms. Default: the leaf's own default. */
  heartbeatIntervalMs?: number;
  /** Offline threshold of the hub, in ms. Default: the hub's own default. */
  offlineAfterMs?: number;
  /** Operator mode: the hub's nodes, 1 or a cluster of 3 (or 5). Default 1. */
  hubNodes?: number;
  /** Operator mode: JetStream storage of these TREs' hub accounts, in MiB (`admin add-tre --storage-mb`). */
  treStorageMb?: Readonly<Record<string, number>>;
}

export interface FederationFiles {
  dir: string;
  /** The (first) hub node's hub.yaml. */
  hubConfig: string;
  /** Every hub node's hub.yaml. */
  hubConfigs: string[];
  hubPublicKey: string;
  hubClientUrl: string;
  leafConfigs: Record<string, string>;
  trePublicKeys: Record<string, string>;
  /** Profile files: `admin`, one per researcher, and `reviewer-<tre>-<name>` per TRE reviewer. */
  profiles: Record<string, string>;
  /** Client URL of each TRE's leaf (fixed ports, so reviewers' profiles can name them). */
  leafClientUrls: Record<string, string>;
  researcherKeys: Record<string, string>;
  /** Each TRE's account as the hub names it (in `/leafz`): `TRE_<name>` in config mode, its public key in operator mode. */
  treAccounts: Record<string, string>;
  /** Operator mode: the federation admin's folder (`tremesh admin … --dir`). */
  adminDir?: string;
}

/** Writes a secret into `dir/secrets/NAME` (0600) and returns its path relative to `dir`. */
export async function writeSecretIn(dir: string, name: string, value: string): Promise<string> {
  const secrets = join(dir, "secrets");
  await mkdir(secrets, { recursive: true, mode: 0o700 });
  await writeFile(join(secrets, name), `${value}\n`, { mode: 0o600 });
  return `./secrets/${name}`;
}

/** Writes `dir/NAME` as YAML, owner-only, and returns its path. */
export async function writeYamlIn(dir: string, name: string, value: unknown): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, stringify(value), { mode: 0o600 });
  return path;
}

/**
 * A TRE operator's side of the plan: the TRE's reviewers (each a signing key, a leaf login and a profile, added
 * to `profiles`) and `leaf-<tre>.yaml` around the given hub link, with the plan's extra content merged in.
 */
export async function writeLeafConfig(
  dir: string,
  plan: FederationPlan,
  leaf: {
    tre: { name: string; seed: string };
    clientPort: number;
    hub: Record<string, unknown>;
    researchers: { name: string; publicKey: string }[];
    profiles: Record<string, string>;
  },
): Promise<string> {
  const tre = leaf.tre.name;
  const reviewers = [];
  for (const name of plan.reviewers ?? ["rita"]) {
    const key = generateKeyPair("user");
    const passwordFile = await writeSecretIn(dir, `reviewer-${tre}-${name}.password`, randomPassword());
    reviewers.push({ name, publicKey: key.publicKey, passwordFile });
    leaf.profiles[`reviewer-${tre}-${name}`] = await writeYamlIn(
      dir,
      `reviewer-${tre}-${name}.profile.yaml`,
      {
        leaf: `nats://${LOOPBACK_HOST}:${leaf.clientPort}`,
        tre,
        user: name,
        passwordFile,
        signingKeyFile: await writeSecretIn(dir, `reviewer-${tre}-${name}.seed`, key.seed),
      },
    );
  }
  return writeYamlIn(dir, `leaf-${tre}.yaml`, {
    tre,
    ports: { client: leaf.clientPort },
    dataDir: `./leaf-${tre}-data`,
    signingKeyFile: await writeSecretIn(dir, `tre-${tre}.seed`, leaf.tre.seed),
    hub: leaf.hub,
    ...(plan.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: plan.heartbeatIntervalMs }),
    researchers: leaf.researchers,
    reviewers,
    ...(plan.leafExtra?.(tre, { researchers: leaf.researchers }) ?? {}),
  });
}

/**
 * Free loopback ports for servers that must keep theirs across restarts (a demo's or a test's federation).
 * They are drawn from below the kernel's ephemeral range: a port there is never handed to an outgoing
 * connection or to a server started with a random port, either of which could take it while its own server is
 * stopped for a restart. Each is checked by binding it; the small race with other programs is acceptable here.
 */
export async function freePorts(count: number): Promise<number[]> {
  const [low, high] = await stablePortRange();
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count; attempt++) {
    if (attempt > count * 50) throw new Error(`no ${count} free ports between ${low} and ${high}`);
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (!ports.has(port) && (await bindable(port))) ports.add(port);
  }
  return [...ports];
}

/** The ports below the ephemeral range (Linux: ip_local_port_range; 32768 elsewhere), at most 12 000 of them. */
async function stablePortRange(): Promise<[number, number]> {
  const text = await readFile("/proc/sys/net/ipv4/ip_local_port_range", "utf8").catch(() => "");
  const ephemeralStart = Number.parseInt(text.trim().split(/\s+/)[0] ?? "", 10);
  const high = (Number.isInteger(ephemeralStart) && ephemeralStart > 2_048 ? ephemeralStart : 32_768) - 1;
  return [Math.max(1_024, high - 12_000), high];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, LOOPBACK_HOST, () => server.close(() => resolve(true)));
  });
}

export async function writeFederation(dir: string, plan: FederationPlan): Promise<FederationFiles> {
  const secret = (name: string, value: string) => writeSecretIn(dir, name, value);
  const yaml = (name: string, value: unknown) => writeYamlIn(dir, name, value);
  const [client, leaf, monitor, ...leafPorts] = (await freePorts(3 + plan.tres.length)) as number[] as [
    number,
    number,
    number,
    ...number[],
  ];
  const hubClientUrl = `tls://${LOOPBACK_HOST}:${client}`;
  // TLS as every federation has it: a CA made for this one, and the hub's certificate for the address dialled.
  const ca = await createFederationCa({ name: "tremesh federation CA" });
  const hubCert = await issueCertificate(ca, {
    commonName: "hub",
    hosts: [LOOPBACK_HOST, "localhost"],
    usage: "node",
  });
  await writeFile(join(dir, BUNDLE_CA), ca.certPem, { mode: 0o644 });
  await writeFile(join(dir, "hub.crt"), hubCert.certPem, { mode: 0o644 });
  const caFile = `./${BUNDLE_CA}`;

  const hubKey = generateKeyPair("user");
  const researcherNames = plan.researchers ?? ["alice"];
  const researchers = researcherNames.map((name) => ({ name, ...generateKeyPair("user") }));
  const tres = plan.tres.map((name) => ({ name, ...generateKeyPair("user") }));

  const profiles: Record<string, string> = {};
  const adminPassword = await secret("admin.password", randomPassword());
  profiles.admin = await yaml("admin.profile.yaml", {
    hub: hubClientUrl,
    caFile,
    user: "admin",
    passwordFile: adminPassword,
  });
  const researcherUsers = [];
  for (const r of researchers) {
    const passwordFile = await secret(`${r.name}.password`, randomPassword());
    const signingKeyFile = await secret(`${r.name}.seed`, r.seed);
    researcherUsers.push({ user: r.name, passwordFile });
    profiles[r.name] = await yaml(`${r.name}.profile.yaml`, {
      hub: hubClientUrl,
      caFile,
      user: r.name,
      passwordFile,
      signingKeyFile,
      // As each TRE's operator would hand them out: the researcher verifies Releases without trusting the hub.
      treKeys: Object.fromEntries(tres.map((t) => [t.name, t.publicKey])),
    });
  }

  const treEntries = [];
  const leafConfigs: Record<string, string> = {};
  const leafClientUrls: Record<string, string> = {};
  const publicResearchers = researchers.map((r) => ({ name: r.name, publicKey: r.publicKey }));
  for (const [i, t] of tres.entries()) {
    const passwordFile = await secret(`leaf-${t.name}.password`, randomPassword());
    leafClientUrls[t.name] = `nats://${LOOPBACK_HOST}:${leafPorts[i] ?? -1}`;
    treEntries.push({ name: t.name, publicKey: t.publicKey, leaf: { user: `leaf-${t.name}`, passwordFile } });
    leafConfigs[t.name] = await writeLeafConfig(dir, plan, {
      tre: t,
      clientPort: leafPorts[i] ?? -1,
      hub: {
        urls: [`tls://${LOOPBACK_HOST}:${leaf}`],
        caFile,
        user: `leaf-${t.name}`,
        passwordFile,
        publicKey: hubKey.publicKey,
      },
      researchers: publicResearchers,
      profiles,
    });
  }

  const hubConfig = await yaml("hub.yaml", {
    name: "hub",
    host: LOOPBACK_HOST,
    ports: { client, leaf, monitor },
    dataDir: "./hub-data",
    tls: { certFile: "./hub.crt", keyFile: await secret("hub.key", hubCert.keyPem.trim()), caFile },
    signingKeyFile: await secret("hub.seed", hubKey.seed),
    admins: [{ user: "admin", passwordFile: adminPassword }],
    researchers: researcherUsers,
    tres: treEntries,
    ...(plan.offlineAfterMs === undefined ? {} : { offlineAfterMs: plan.offlineAfterMs }),
  });

  return {
    dir,
    hubConfig,
    hubConfigs: [hubConfig],
    hubPublicKey: hubKey.publicKey,
    hubClientUrl,
    leafConfigs,
    trePublicKeys: Object.fromEntries(tres.map((t) => [t.name, t.publicKey])),
    profiles,
    leafClientUrls,
    researcherKeys: Object.fromEntries(researchers.map((r) => [r.name, r.publicKey])),
    treAccounts: Object.fromEntries(tres.map((t) => [t.name, treAccountName(t.name)])),
  };
}
