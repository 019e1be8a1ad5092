import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { writeFederation } from "../admin/federation-files.js";
import { run } from "../cli/main.js";
import { ConfigFileError } from "../common/index.js";
import { loadHubConfig } from "../hub/index.js";
import { loadLeafConfig } from "../leaf/index.js";
import { generateKeyPair } from "../protocol/index.js";

let dir: string;
let hubFile: string;
let leafFile: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-config-"));
  const files = await writeFederation(dir, {
    tres: ["a", "b"],
    leafExtra: () => ({
      datasets: [{ name: "patients", engine: "csv", path: "./patients.csv", columns: { age: "numeric" } }],
      projects: [{ name: "diabetes", researchers: ["alice"], analyses: ["count"], datasets: ["patients"] }],
    }),
  });
  hubFile = files.hubConfig;
  leafFile = files.leafConfigs.a!;
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes a changed copy of a config beside the original (so its relative secret paths still resolve). */
async function variant(file: string, change: (c: Record<string, unknown>) => void): Promise<string> {
  const config = parse(await readFile(file, "utf8")) as Record<string, unknown>;
  change(config);
  const path = join(dir, `variant-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(path, stringify(config));
  return path;
}

async function loadError(load: (f: string) => Promise<unknown>, file: string): Promise<ConfigFileError> {
  const error = await load(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigFileError);
  return error as ConfigFileError;
}

describe("hub.yaml", () => {
  it("refuses port 0, which nats-server reads as its default client port, no leafnode port or no monitoring", async () => {
    for (const name of ["client", "leaf", "monitor"]) {
      const bad = await variant(hubFile, (c) => {
        c.ports = { [name]: 0 };
      });
      const error = await loadError(loadHubConfig, bad);
      expect(error.field).toBe(`ports.${name}`);
      expect(error.message).toContain("not any free port: give -1 for a free port, or a port number");
    }
  });

  it("loads a generated config with its secrets", async () => {
    const config = await loadHubConfig(hubFile);
    expect(config.tres.map((t) => t.name)).toEqual(["a", "b"]);
    expect(config.tres[0]!.leaf.password.length).toBeGreaterThanOrEqual(16);
    expect(config.hubKey.publicKey).toMatch(/^U/);
  });

  it.each([
    ["a missing field", (c: Record<string, unknown>) => delete c.dataDir, "dataDir", "is required"],
    [
      "a bad TRE name",
      (c: Record<string, unknown>) => ((c.tres as { name: string }[])[1]!.name = "B_2"),
      "tres[1].name",
      "is not a TRE name",
    ],
    [
      "a TRE key that is not a user key",
      (c: Record<string, unknown>) => ((c.tres as { publicKey: string }[])[0]!.publicKey = "X".repeat(56)),
      "tres[0].publicKey",
      "not an nkey user public key",
    ],
    [
      "a typo in a field name",
      (c: Record<string, unknown>) => (c.dataDri = "x"),
      "dataDri",
      "is not a known field",
    ],
    [
      "a TRE listed twice",
      (c: Record<string, unknown>) => (c.tres as unknown[]).push((c.tres as unknown[])[0]),
      "tres[2].name",
      "appears twice",
    ],
    [
      "a missing secret file",
      (c: Record<string, unknown>) => ((c.admins as { passwordFile: string }[])[0]!.passwordFile = "./nope"),
      "admins[0].passwordFile",
      "cannot read ./nope (ENOENT)",
    ],
    [
      "three replicas on a lone node",
      (c: Record<string, unknown>) => (c.replicas = 3),
      "replicas",
      "needs a `cluster` section",
    ],
    [
      "a route URL carrying credentials",
      (c: Record<string, unknown>) =>
        (c.cluster = {
          port: 6222,
          routes: ["nats-route://route:secret@hub-2:6222"],
          authorization: { user: "route", passwordFile: "./secrets/admin.password" },
        }),
      "cluster.routes[0]",
      "is not a nats-route://host:port URL",
    ],
    [
      "routes naming only the other nodes",
      (c: Record<string, unknown>) =>
        (c.cluster = {
          port: 6222,
          routes: ["nats-route://hub-2:6222", "nats-route://hub-3:6222"],
          authorization: { user: "route", passwordFile: "./secrets/admin.password" },
        }),
      "cluster.routes",
      "names 2 node(s) for 3 replicas",
    ],
  ])("names the field for %s", async (_what, change, field, problem) => {
    const error = await loadError(loadHubConfig, await variant(hubFile, change));
    expect(error.field).toBe(field);
    expect(error.message).toContain(problem);
  });

  it("loads a cluster node: three replicas by default, the route password read from its file", async () => {
    const node = await variant(hubFile, (c) => {
      c.cluster = {
        port: 6222,
        routes: ["nats-route://hub-1:6222", "nats-route://hub-2:6222", "nats-route://hub-3:6222"],
        authorization: { user: "route", passwordFile: "./secrets/admin.password" },
      };
    });
    const config = await loadHubConfig(node);
    expect(config.replicas).toBe(3);
    expect(config.cluster).toMatchObject({ name: "tremesh-hub", port: 6222, host: "127.0.0.1" });
    expect(config.cluster!.credential.password.length).toBeGreaterThanOrEqual(16);
    expect((await loadHubConfig(hubFile)).replicas).toBe(1);
  });

  it("refuses a secret file that other users can read", async () => {
    const secret = join(dir, "secrets", "admin.password");
    await chmod(secret, 0o644);
    try {
      const error = await loadError(loadHubConfig, hubFile);
      expect(error.message).toMatch(/admin\.password can be read by other users \(mode 644\); chmod 600 it/);
    } finally {
      await chmod(secret, 0o600);
    }
  });

  it("refuses a file that is not YAML, naming the line", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "name: hub\ntres: [a,\n  - b: }\n");
    const error = await loadError(loadHubConfig, bad);
    expect(error.message).toMatch(/bad\.yaml: not valid YAML at line \d/);
  });

  it("refuses a dataDir in /proc or /sys, naming dataDir, where `tremesh hub start` waited forever under /proc", async () => {
    for (const dataDir of ["/proc/tremesh-hub", "/sys/fs/tremesh", "/sys/../proc/self/hub"]) {
      const bad = await variant(hubFile, (c) => {
        c.dataDir = dataDir;
      });
      const error = await loadError(loadHubConfig, bad);
      expect(error.field).toBe("dataDir");
      expect(error.message).toMatch(
        /is in \/(proc|sys), a file system the kernel provides, not a disk: give a folder on a disk/,
      );
    }
    const bad = await variant(hubFile, (c) => {
      c.dataDir = "/proc/tremesh-hub";
    });
    const err: string[] = [];
    const code = await run(["hub", "start", "--config", bad], { out: () => {}, err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(err).toEqual([
      `tremesh hub: ${bad}: dataDir: /proc/tremesh-hub is in /proc, a file system the kernel provides, not a disk: give a folder on a disk (e.g. under /var/lib)`,
    ]);
    // A folder whose name only starts like one is no kernel file system.
    const near = await variant(hubFile, (c) => {
      c.dataDir = join(dir, "proc");
    });
    expect((await loadHubConfig(near)).dataDir).toBe(join(dir, "proc"));
  });

  // Read whole, /dev/zero filled a string until V8 refused it: "cannot read (RangeError: Invalid string length)".
  it("refuses a device given as a config or a profile, saying it is one (exit 3)", async () => {
    const error = await loadError(loadHubConfig, "/dev/zero");
    expect(error.message).toBe("/dev/zero: is a device, not a file; give a file");
    const err: string[] = [];
    const code = await run(["status", "--profile", "/dev/zero"], { out: () => {}, err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(err).toEqual(["tremesh status: /dev/zero: is a device, not a file; give a file"]);
  }, 10_000);

  it("makes `tremesh hub start` exit with the bad-input code and one clear line", async () => {
    const bad = await variant(hubFile, (c) => delete c.signingKeyFile);
    const err: string[] = [];
    const code = await run(["hub", "start", "--config", bad], { out: () => {}, err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(err).toEqual([`tremesh hub: ${bad}: signingKeyFile: is required`]);
  });
});

describe("leaf.yaml", () => {
  it("loads the TRE's identity, pinned hub key and approvals", async () => {
    const config = await loadLeafConfig(leafFile);
    expect(config.tre).toBe("a");
    expect(config.hub.keys.publicKey).toMatch(/^U/);
    expect(config.projects).toEqual([
      { name: "diabetes", researchers: ["alice"], analyses: ["count"], datasets: ["patients"] },
    ]);
  });

  it("pins the hub's next key beside its key during a change-over, and refuses the same key twice or a bad one", async () => {
    const next = generateKeyPair("user").publicKey;
    const both = await variant(leafFile, (c) => {
      (c.hub as Record<string, unknown>).nextPublicKey = next;
    });
    const { keys } = (await loadLeafConfig(both)).hub;
    expect(keys.nextPublicKey).toBe(next);
    expect(keys.publicKey).toMatch(/^U/);
    const same = await variant(leafFile, (c) => {
      const hub = c.hub as Record<string, unknown>;
      hub.nextPublicKey = hub.publicKey;
    });
    const twice = await loadError(loadLeafConfig, same);
    expect(twice.field).toBe("hub.nextPublicKey");
    expect(twice.message).toContain("is hub.publicKey already");
    const bad = await variant(leafFile, (c) => {
      (c.hub as Record<string, unknown>).nextPublicKey = generateKeyPair("account").publicKey;
    });
    expect((await loadError(loadLeafConfig, bad)).field).toBe("hub.nextPublicKey");
  });

  it("resolves a dataset file against the config's folder, and refuses an approval of an unknown dataset", async () => {
    expect((await loadLeafConfig(leafFile)).datasets[0]).toMatchObject({ path: join(dir, "patients.csv") });
    const bad = await variant(leafFile, (c) => {
      (c.projects as { datasets: string[] }[])[0]!.datasets.push("registry");
    });
    const error = await loadError(loadLeafConfig, bad);
    expect(error.field).toBe("projects[0].datasets[1]");
    expect(error.message).toContain("registry is not in `datasets`");
  });

  it("refuses an approval naming a researcher the TRE does not know", async () => {
    const bad = await variant(leafFile, (c) => {
      (c.projects as { researchers: string[] }[])[0]!.researchers.push("mallory");
    });
    const error = await loadError(loadLeafConfig, bad);
    expect(error.field).toBe("projects[0].researchers[1]");
    expect(error.message).toContain("mallory is not in `researchers`");
  });

  it("refuses port 0, which nats-server reads as its default client port or no monitoring, naming -1", async () => {
    for (const name of ["client", "monitor"]) {
      const bad = await variant(leafFile, (c) => {
        c.ports = { [name]: 0 };
      });
      const error = await loadError(loadLeafConfig, bad);
      expect(error.field).toBe(`ports.${name}`);
      expect(error.message).toContain("not any free port: give -1 for a free port, or a port number");
    }
  });

  it("refuses a dataDir in /proc or /sys, naming dataDir", async () => {
    for (const [dataDir, root] of [
      ["/proc/self/tremesh", "/proc"],
      ["/sys", "/sys"],
    ]) {
      const bad = await variant(leafFile, (c) => {
        c.dataDir = dataDir;
      });
      const error = await loadError(loadLeafConfig, bad);
      expect(error.field).toBe("dataDir");
      expect(error.message).toContain(
        `${dataDir} is in ${root}, a file system the kernel provides, not a disk`,
      );
    }
  });

  it("refuses a reviewer listed twice by name, or named as the leaf's own logins, as bad input naming the field", async () => {
    const [reviewer] = (await loadLeafConfig(leafFile)).reviewers;
    const bad = await variant(leafFile, (c) => {
      const [first] = c.reviewers as Record<string, unknown>[];
      c.reviewers = [first, { ...first, publicKey: reviewer!.publicKey }];
    });
    const error = await loadError(loadLeafConfig, bad);
    expect(error.field).toBe("reviewers[1].name");
    const err: string[] = [];
    const code = await run(["leaf", "start", "--config", bad], { out: () => {}, err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(err).toEqual([
      `tremesh leaf: ${bad}: reviewers[1].name: '${reviewer!.name}' names reviewers[0] too; list each reviewer once`,
    ]);
    const internal = await variant(leafFile, (c) => {
      (c.reviewers as Record<string, unknown>[])[0]!.name = "tremesh-agent-ctrl";
    });
    const taken = await loadError(loadLeafConfig, internal);
    expect(taken.message).toContain(
      "reviewers[0].name: 'tremesh-agent-ctrl': names starting tremesh- are the leaf's own logins; choose another",
    );
  });

  it("makes `tremesh leaf start` refuse a hub URL that is no URL as bad input naming the file (exit 3)", async () => {
    const bad = await variant(leafFile, (c) => {
      (c.hub as { urls: string[] }).urls = ["127.0.0.1:7422"];
    });
    const err: string[] = [];
    const code = await run(["leaf", "start", "--config", bad], { out: () => {}, err: (l) => err.push(l) });
    expect(err).toEqual([`tremesh leaf: ${bad}: \`hub.urls[0]\`: not a URL (tls://host:port)`]);
    expect(code).toBe(3);
  });

  it("refuses an analysis kind it does not know and a bad until date", async () => {
    const kind = await variant(leafFile, (c) => {
      (c.projects as { analyses: string[] }[])[0]!.analyses = ["sql"];
    });
    expect((await loadError(loadLeafConfig, kind)).field).toBe("projects[0].analyses[0]");
    const until = await variant(leafFile, (c) => {
      (c.projects as { until: string }[])[0]!.until = "next year";
    });
    expect((await loadError(loadLeafConfig, until)).field).toBe("projects[0].until");
  });

  it("runs no containers without a `containers` section, defaults its limits, and names a bad field", async () => {
    expect((await loadLeafConfig(leafFile)).containers).toBeUndefined();
    const image = `tremesh/stats@sha256:${"a".repeat(64)}`;
    const withContainers = await variant(leafFile, (c) => {
      const [p] = c.projects as { analyses: string[]; images?: string[] }[];
      p!.analyses.push("container");
      p!.images = [image];
      c.containers = { socket: "./podman.sock", memoryMb: 256, cpus: 0.5, outputs: { maxFiles: 4 } };
    });
    const loaded = await loadLeafConfig(withContainers);
    expect(loaded.containers).toEqual({
      socketPath: join(dir, "podman.sock"),
      user: "65534:65534",
      limits: {
        memoryBytes: 256 * 1024 * 1024,
        nanoCpus: 500_000_000,
        pids: 128,
        tmpfsBytes: 64 * 1024 * 1024,
        timeoutMs: 600_000,
        maxOutputFiles: 4,
        maxOutputBytes: 512 * 1024,
        maxLogBytes: 1024 * 1024,
      },
    });
    const noSection = await variant(leafFile, (c) => {
      (c.projects as { analyses: string[] }[])[0]!.analyses.push("container");
    });
    const missing = await loadError(loadLeafConfig, noSection);
    expect(missing.field).toBe("projects[0].analyses");
    expect(missing.message).toContain("need the `containers` section");
    for (const [containers, field] of [
      [{ user: "0:0" }, "containers.user"],
      [{ cpus: 0 }, "containers.cpus"],
      [{ outputs: { maxBytes: 10 * 1024 * 1024 } }, "containers.outputs.maxBytes"],
      [{ network: "host" }, "containers.network"],
    ] as const) {
      const bad = await variant(leafFile, (c) => {
        c.containers = containers;
      });
      expect((await loadError(loadLeafConfig, bad)).field).toBe(field);
    }
  });

  it("makes `tremesh leaf start` name a reviewer's password file whose password is too short (exit 3)", async () => {
    await writeFile(join(dir, "secrets", "short.password"), "ritaeastpw\n", { mode: 0o600 });
    const reviewer = (await loadLeafConfig(leafFile)).reviewers[0];
    const bad = await variant(leafFile, (c) => {
      c.reviewers = [
        { name: "rita", publicKey: reviewer!.publicKey, passwordFile: "./secrets/short.password" },
      ];
    });
    const err: string[] = [];
    const code = await run(["leaf", "start", "--config", bad], { out: () => {}, err: (l) => err.push(l) });
    expect(code).toBe(3);
    expect(err).toEqual([
      `tremesh leaf: ${bad}: reviewers[0].passwordFile: ./secrets/short.password holds a password of 10 characters; ` +
        "at least 16 are needed (e.g. `openssl rand -base64 24`)",
    ]);
  });

  it("refuses a signing key file that does not hold an nkey seed", async () => {
    const seed = join(dir, "secrets", "not-a-seed");
    await writeFile(seed, "hello\n", { mode: 0o600 });
    const bad = await variant(leafFile, (c) => {
      c.signingKeyFile = "./secrets/not-a-seed";
    });
    const error = await loadError(loadLeafConfig, bad);
    expect(error.field).toBe("signingKeyFile");
    expect(error.message).toContain("not a valid nkey seed");
    expect(error.message).not.toContain("hello");
  });

  it("defaults the airlock's rules, the review policy, the server's cores, how long a dataset stays open and an ended task's records are kept, and names a bad threshold or policy field", async () => {
    const config = await loadLeafConfig(leafFile);
    expect(config.disclosure).toEqual({
      minCellCount: 10,
      roundingBase: 5,
      dominance: { n: 2, k: 0.9 },
      minResidualDf: 10,
      zerosDisclosive: true,
    });
    expect(config.review).toEqual({ approvalsRequired: 1, autoRelease: false });
    expect(config.natsServerCores).toBe(1);
    expect(config.datasetKeepOpenMs).toBe(30_000);
    expect(config.taskRetentionDays).toBe(90);
    expect(config.reviewers.map((r) => r.name)).toEqual(["rita"]);
    expect(config.reviewers[0]!.password).toMatch(/.{16,}/);

    const stricter = await variant(leafFile, (c) => {
      c.disclosure = { minCellCount: 20, dominance: { k: 0.8 } };
      c.review = { approvalsRequired: 2 };
      c.datasetKeepOpenMs = 0;
      c.taskRetentionDays = 31;
    });
    const loaded = await loadLeafConfig(stricter);
    expect(loaded.disclosure).toMatchObject({
      minCellCount: 20,
      roundingBase: 5,
      dominance: { n: 2, k: 0.8 },
    });
    expect(loaded.review.approvalsRequired).toBe(2);
    expect(loaded.datasetKeepOpenMs, "0: a dataset opened for every query").toBe(0);
    expect(loaded.taskRetentionDays).toBe(31);

    for (const [change, field] of [
      [{ disclosure: { dominance: { k: 1.5 } } }, "disclosure.dominance.k"],
      [{ disclosure: { minCellSize: 10 } }, "disclosure.minCellSize"],
      [{ review: { approvalsRequired: 3 } }, "review.approvalsRequired"],
      [{ review: { notify: { webhook: "file:///etc/passwd" } } }, "review.notify.webhook"],
      [{ natsServerCores: 0 }, "natsServerCores"],
      [{ datasetKeepOpenMs: -1 }, "datasetKeepOpenMs"],
      // Less than a Dispatch may be valid: a replay of a forgotten task's Dispatch could still be accepted.
      [{ taskRetentionDays: 30 }, "taskRetentionDays"],
    ] as const) {
      const bad = await variant(leafFile, (c) => Object.assign(c, change));
      expect((await loadError(loadLeafConfig, bad)).field).toBe(field);
    }
  });
});
