/**
 * deploy/ stays true: its hub configs are what `tremesh admin init --node …` writes (only the data folder moved),
 * every YAML there validates against the schema the processes load, and the systemd units and the compose file
 * start the commands the README names, with the configs deploy/ holds.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AdminStore, initFederation, nodeCertificates } from "../admin/index.js";
import { readYamlConfig, validateConfig } from "../common/index.js";
import { hubConfigSchema } from "../hub/hub-config.js";
import { leafConfigSchema } from "../leaf/leaf-config.js";

const DEPLOY = join(dirname(fileURLToPath(import.meta.url)), "..", "deploy");
const NODES = [1, 2, 3].map((i) => ({ name: `hub-${i}`, host: `hub-${i}.tremesh.internal` }));
const dirs: string[] = [];

afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The YAML as compose reads it too: `<<` merge keys resolved. */
async function yamlOf(path: string): Promise<Record<string, unknown>> {
  return parse(await readFile(path, "utf8"), { merge: true }) as Record<string, unknown>;
}

describe("deploy/", () => {
  it("holds the three hub configs `admin init --node` writes, with the data under /var/lib/tremesh", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-deploy-"));
    dirs.push(dir);
    const init = await initFederation(new AdminStore(join(dir, "admin")), { nodes: NODES });
    expect(init.hubConfigs).toHaveLength(3);
    for (const [i, node] of NODES.entries()) {
      const written = await yamlOf(init.hubConfigs[i]!);
      const kept = await yamlOf(join(DEPLOY, "cluster", `${node.name}.yaml`));
      expect(kept).toEqual({ ...written, dataDir: `/var/lib/tremesh/${node.name}` });
      expect(kept.cluster).toMatchObject({
        routes: NODES.map((n) => `nats-route://${n.host}:6222`),
        authorization: { user: "route", passwordFile: "./secrets/route.password" },
      });
      validateConfig(await readYamlConfig(join(DEPLOY, "cluster", `${node.name}.yaml`)), hubConfigSchema);
    }
    // The admin profile and every later bundle list every node, so clients and leaves fail over.
    expect((await yamlOf(init.adminProfile)).hub).toBe(NODES.map((n) => `tls://${n.host}:4222`).join(","));
    expect(init.state.hub.leafUrls).toEqual(NODES.map((n) => `tls://${n.host}:7422`));
    // Each node's certificate names the host the others, the clients and the TREs dial.
    const certs = await nodeCertificates(
      new AdminStore(join(dir, "admin")),
      NODES.map((n) => n.name),
    );
    for (const node of NODES) expect(certs[node.name]?.dnsNames).toEqual([node.host]);
  });

  it("refuses a cluster of two or four nodes: a majority must survive a lost node", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-deploy-"));
    dirs.push(dir);
    await expect(
      initFederation(new AdminStore(join(dir, "two")), { nodes: NODES.slice(0, 2) }),
    ).rejects.toThrow(/3 or 5 nodes .* got 2/);
  });

  it("holds a leaf.yaml that validates and dials every hub node", async () => {
    const loaded = await readYamlConfig(join(DEPLOY, "leaf", "leaf.yaml"));
    const leaf = validateConfig(loaded, leafConfigSchema);
    expect(leaf.hub.urls).toEqual(NODES.map((n) => `tls://${n.host}:7422`));
    expect(leaf.hub.caFile).toBe("./federation-ca.crt");
    expect(leaf.hub.credsFile).toBeDefined();
  });

  it("starts the README's commands from the systemd units and the compose file", async () => {
    const hubUnit = await readFile(join(DEPLOY, "systemd", "tremesh-hub@.service"), "utf8");
    expect(hubUnit).toMatch(/^ExecStart=.*tremesh\.mjs hub start --config \/etc\/tremesh\/hub\/%i\.yaml$/m);
    const leafUnit = await readFile(join(DEPLOY, "systemd", "tremesh-leaf.service"), "utf8");
    expect(leafUnit).toMatch(
      /^ExecStart=.*tremesh\.mjs leaf start --config \/etc\/tremesh\/leaf\/leaf\.yaml$/m,
    );
    for (const unit of [hubUnit, leafUnit]) {
      expect(unit).toMatch(/^NoNewPrivileges=yes$/m);
      expect(unit).toMatch(/^User=tremesh$/m);
    }
    const compose = (await yamlOf(join(DEPLOY, "compose", "compose.yaml"))) as {
      services: Record<string, { command: string[]; cap_drop: string[]; read_only: boolean }>;
    };
    expect(Object.keys(compose.services)).toEqual(NODES.map((n) => n.name));
    for (const [name, service] of Object.entries(compose.services)) {
      expect(service.command).toEqual(["hub", "start", "--config", `/etc/tremesh/hub/${name}.yaml`]);
      expect(service).toMatchObject({ cap_drop: ["ALL"], read_only: true });
    }
  });
});
