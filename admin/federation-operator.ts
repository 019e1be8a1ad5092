/**
 * A whole federation in operator mode, built the way its people build one: the admin runs `admin init`, starts
 * the hub, and onboards each TRE and researcher with the public keys they made themselves; each TRE's operator
 * completes the bundle's leaf.yaml. The same plan as `writeFederation` (config mode), and the same files out,
 * so the demo and the tests run either. The admin steps are the functions `tremesh admin` runs.
 */
import { chmod, copyFile, mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { LOOPBACK_HOST } from "../common/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { initFederation } from "./admin-init.js";
import { addResearcher, addTre } from "./admin-onboard.js";
import { AdminStore } from "./admin-store.js";
import { BUNDLE_CA, CA_CERT } from "./admin-tls.js";
import {
  type FederationFiles,
  type FederationPlan,
  freePorts,
  writeLeafConfig,
  writeSecretIn,
  writeYamlIn,
} from "./federation-files.js";

/**
 * Builds the federation in `dir` (the admin's folder is `dir/admin`). `startHub` must start the hub from the
 * given hub.yaml files (one, or one per node of a clustered hub: `plan.hubNodes`) and resolve once the admin
 * profile can connect; the TREs' leaves are left for the caller to start.
 */
export async function buildOperatorFederation(
  dir: string,
  plan: FederationPlan,
  startHub: (hubConfigs: readonly string[], adminProfile: string) => Promise<void>,
): Promise<FederationFiles> {
  const nodeCount = plan.hubNodes ?? 1;
  const ports = await freePorts(4 * nodeCount + plan.tres.length);
  const leafPorts = ports.slice(4 * nodeCount);
  const nodePorts = (i: number) => {
    const [client, leaf, monitor, cluster] = ports.slice(4 * i, 4 * i + 4) as [
      number,
      number,
      number,
      number,
    ];
    return { client, leaf, monitor, cluster };
  };
  await mkdir(join(dir, "secrets"), { recursive: true, mode: 0o700 });
  /** A secret handed over from the admin's bundle into this party's own secrets folder, owner-only. */
  const handOver = async (from: string, name: string) => {
    await copyFile(from, join(dir, "secrets", name));
    await chmod(join(dir, "secrets", name), 0o600);
    return `./secrets/${name}`;
  };
  const store = new AdminStore(join(dir, "admin"));
  const init = await initFederation(store, {
    ...(nodeCount === 1
      ? { host: LOOPBACK_HOST, ports: nodePorts(0) }
      : {
          nodes: Array.from({ length: nodeCount }, (_, i) => ({
            name: `hub-${i + 1}`,
            host: LOOPBACK_HOST,
            ports: nodePorts(i),
          })),
        }),
    ...(plan.offlineAfterMs === undefined ? {} : { offlineAfterMs: plan.offlineAfterMs }),
  });
  // Every party pins the federation's CA, as its onboarding bundle hands it over (`federation-ca.crt`).
  if (init.state.tls) await copyFile(store.path(CA_CERT), join(dir, BUNDLE_CA));
  await startHub(init.hubConfigs, init.adminProfile);

  // Each TRE makes its own signing key (`tremesh leaf keygen`) and hands the admin only the public key.
  const tres = plan.tres.map((name) => ({ name, ...generateKeyPair("user") }));
  const treAccounts: Record<string, string> = {};
  const bundles: Record<string, string> = {};
  for (const t of tres) {
    const storageMb = plan.treStorageMb?.[t.name];
    const added = await addTre(store, t.name, {
      signingKey: t.publicKey,
      ...(storageMb === undefined ? {} : { storageBytes: storageMb * 1024 * 1024 }),
    });
    treAccounts[t.name] = added.account;
    bundles[t.name] = added.bundle.dir;
  }

  const profiles: Record<string, string> = { admin: init.adminProfile };
  const researchers = (plan.researchers ?? ["alice"]).map((name) => ({ name, ...generateKeyPair("user") }));
  for (const r of researchers) {
    const added = await addResearcher(store, r.name, { signingKey: r.publicKey });
    // The researcher keeps the bundle's creds beside their own seed, and completes the profile template.
    const template = parse(await readFile(added.bundle.profile, "utf8")) as Record<string, unknown>;
    profiles[r.name] = await writeYamlIn(dir, `${r.name}.profile.yaml`, {
      ...template,
      credsFile: await handOver(added.bundle.creds, `${r.name}.creds`),
      signingKeyFile: await writeSecretIn(dir, `${r.name}.seed`, r.seed),
    });
  }

  const leafConfigs: Record<string, string> = {};
  const leafClientUrls: Record<string, string> = {};
  const publicResearchers = researchers.map((r) => ({ name: r.name, publicKey: r.publicKey }));
  for (const [i, t] of tres.entries()) {
    const clientPort = leafPorts[i] ?? -1;
    leafClientUrls[t.name] = `nats://${LOOPBACK_HOST}:${clientPort}`;
    const template = parse(await readFile(join(bundles[t.name]!, "leaf.yaml"), "utf8")) as {
      hub: Record<string, unknown>;
    };
    const credsFile = await handOver(join(bundles[t.name]!, "hub-link.creds"), `hub-link-${t.name}.creds`);
    leafConfigs[t.name] = await writeLeafConfig(dir, plan, {
      tre: t,
      clientPort,
      hub: { ...template.hub, credsFile },
      researchers: publicResearchers,
      profiles,
    });
  }

  const state = await store.load();
  return {
    dir,
    hubConfig: init.hubConfig,
    hubConfigs: init.hubConfigs,
    hubPublicKey: state.hub.signingKey,
    hubClientUrl: state.hub.clientUrls[0]!,
    leafConfigs,
    trePublicKeys: Object.fromEntries(tres.map((t) => [t.name, t.publicKey])),
    profiles,
    leafClientUrls,
    researcherKeys: Object.fromEntries(researchers.map((r) => [r.name, r.publicKey])),
    treAccounts,
    adminDir: store.dir,
  };
}
