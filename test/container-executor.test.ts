/**
 * The container executor against a real Docker-compatible API (podman system service) with images built
 * here: a real analysis over each engine's extract, and containers that try to get out of the box.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { treContainers } from "../executors/container/container-executor.js";
import { LABEL_TRE } from "../executors/container/sandbox.js";
import {
  AnalysisRefused,
  ContainerExecutor,
  type ContainerExit,
  type ContainerLimits,
  ExecutorCancelled,
  ExecutorFailed,
  ExecutorTimeout,
} from "../executors/index.js";
import { generatePatients, MEAN_SCRIPT, patientProfiles } from "../fixtures/index.js";
import { type AnalysisSpec, newId, OUTPUT_MEDIA_TYPE } from "../protocol/index.js";
import { PROBE_SCRIPT, probeResults } from "./harness/container-images.js";
import { type Engine, type PatientEngines, startPatientEngines } from "./harness/patient-engines.js";
import { type BuiltImage, buildBusyboxImage, type DockerApi, startDockerApi } from "./harness/podman.js";

const TRE = "ctest";
let dir: string;
let api: DockerApi;
let engines: PatientEngines;
let image: BuiltImage;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tremesh-container-"));
  const rows = generatePatients(patientProfiles.north, 7).slice(0, 800);
  [api, engines] = await Promise.all([startDockerApi(join(dir, "podman")), startPatientEngines({ rows })]);
  image = await buildBusyboxImage(api, dir, "tremesh/stats", {
    "/app/mean.sh": MEAN_SCRIPT,
    "/app/probe.sh": PROBE_SCRIPT,
  });
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await engines?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function executor(limits: Partial<ContainerLimits> = {}, exits: ContainerExit[] = []) {
  return new ContainerExecutor({
    docker: api.docker,
    tre: TRE,
    workDir: join(dir, "work"),
    limits,
    onExit: (e) => exits.push(e),
  });
}

function spec(command: string[], env: Record<string, string> = {}, ref = image.ref): AnalysisSpec {
  return { kind: "container", image: ref, command, env, datasets: ["patients"] };
}

async function run(
  ex: ContainerExecutor,
  analysis: AnalysisSpec,
  {
    engine = "csv" as Engine,
    timeoutMs = 60_000,
    signal,
  }: { engine?: Engine; timeoutMs?: number; signal?: AbortSignal } = {},
) {
  const taskId = newId();
  const datasets = engines.datasets(engine).filter((d) => d.name === "patients");
  await using issued = await engines.broker.issue(taskId, datasets, timeoutMs);
  return await ex.run(
    { taskId, analysis, datasets, credential: issued.credential, timeoutMs },
    signal ? { signal } : {},
  );
}

async function taskContainers(): Promise<number> {
  return (await treContainers(api.docker, TRE)).length;
}

function truth(column: "age" | "bmi") {
  const values = engines.rows.map((r) => r[column]).filter((v): v is number => v !== null);
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

describe("container executor", () => {
  it.each(["csv", "duckdb", "postgres"] as const)(
    "computes a summary from the %s dataset's extract, as an output description for the airlock",
    async (engine) => {
      const outputs = await run(executor(), spec(["/app/mean.sh"], { COLUMN: "bmi" }), { engine });
      const byName = new Map(outputs.map((o) => [o.name, o]));
      const summary = byName.get("bmi-summary.json");
      expect(summary?.mediaType).toBe(OUTPUT_MEDIA_TYPE);
      expect(summary?.description?.kind).toBe("summary");
      if (summary?.description?.kind !== "summary") throw new Error("no summary");
      expect(summary.description.analysis.kind).toBe("container");
      expect(summary.description.dataset).toBe("patients");
      const [cell] = summary.description.cells;
      const expected = truth("bmi");
      expect(cell?.n).toBe(expected.n);
      expect(cell?.mean).toBeCloseTo(expected.mean, 9);
      expect(cell?.variance).toBeCloseTo(expected.variance, 6);
      // The extract holds the allowed columns only: never the identifier.
      const columns = new TextDecoder().decode(byName.get("columns.txt")?.bytes).trim().split(",");
      expect(columns).toEqual([
        "age",
        "sex",
        "region",
        "bmi",
        "systolic_bp",
        "cholesterol",
        "smoker",
        "diabetes",
      ]);
      expect(byName.get("columns.txt")?.mediaType).toBe("text/plain");
      expect(byName.get("columns.txt")?.description).toBeUndefined();
      expect(await taskContainers()).toBe(0);
    },
    60_000,
  );

  describe("the sandbox", () => {
    let server: Server;
    let connections = 0;
    let port = 0;
    beforeAll(async () => {
      server = createServer((socket) => {
        connections++;
        socket.destroy();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("runs as nobody with no capabilities, cannot reach a server on the host, and can write only /outputs and /tmp", async () => {
      const probe = spec(["/app/probe.sh"], { PROBE_HOST: "127.0.0.1", PROBE_PORT: String(port) });
      const outputs = await run(executor(), probe);
      const seen = probeResults(new TextDecoder().decode(outputs.find((o) => o.name === "probe.txt")?.bytes));
      expect(seen.get("uid")).toBe("65534");
      expect(seen.get("capeff")).toBe("0000000000000000");
      expect(seen.get("nonewprivs")).toBe("1");
      expect(seen.get("net")).toBe("failed");
      expect(connections).toBe(0);
      for (const f of ["/etc/probe", "/probe", "/bin/probe", "/data/probe", "/data/patients.csv"])
        expect(seen.get(`write:${f}`), f).toBe("denied");
      expect(seen.get("write:/tmp/scratch")).toBe("ok");
    }, 60_000);

    it("the same probe given host networking does connect (so the failure above is the sandbox's doing)", async () => {
      const c = await api.docker.createContainer({
        Image: image.id,
        Cmd: ["sh", "-c", `echo probe | nc -w 2 127.0.0.1 ${port}`],
        HostConfig: { NetworkMode: "host" },
      });
      try {
        await c.start();
        const { StatusCode } = (await c.wait()) as { StatusCode: number };
        expect(StatusCode).toBe(0);
        expect(connections).toBe(1);
      } finally {
        await c.remove({ force: true });
      }
    }, 60_000);
  });

  it("kills a container that runs past its time limit, reports a timeout and removes it", async () => {
    const exits: ContainerExit[] = [];
    const started = Date.now();
    const error = await run(executor({ timeoutMs: 1500 }, exits), spec(["sleep", "60"])).catch((e) => e);
    expect(error).toBeInstanceOf(ExecutorTimeout);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(exits[0]?.stopped).toBe("timeout");
    expect(await taskContainers()).toBe(0);
  }, 60_000);

  it("kills a container that goes over its memory limit and says so", async () => {
    const exits: ContainerExit[] = [];
    const hog = spec(["awk", 'BEGIN { s = "0123456789abcdef"; while (1) s = s s }']);
    const error = await run(executor({ memoryBytes: 32 * 1024 * 1024 }, exits), hog).catch((e) => e);
    expect(error).toBeInstanceOf(ExecutorFailed);
    expect(error.message).toMatch(/memory limit \(32 MiB\)/);
    expect(exits[0]?.oomKilled || exits[0]?.exitCode === 137).toBe(true);
    expect(await taskContainers()).toBe(0);
  }, 60_000);

  it("stops and removes the container when the task is cancelled", async () => {
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 1000);
    const error = await run(executor(), spec(["sleep", "60"]), { signal: abort.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(ExecutorCancelled);
    expect(await taskContainers()).toBe(0);
  }, 60_000);

  it("reports a failing container without its exit code or output, which stay in the TRE's log", async () => {
    const exits: ContainerExit[] = [];
    const failing = spec(["sh", "-c", "echo patient P000123 is 97 >&2; exit 3"]);
    const error = await run(executor({}, exits), failing).catch((e) => e);
    expect(error).toBeInstanceOf(ExecutorFailed);
    expect(error.message).not.toMatch(/3|P000123/);
    expect(exits[0]?.exitCode).toBe(3);
    expect(await readFile(exits[0]?.logFile ?? "", "utf8")).toContain("patient P000123 is 97");
  }, 60_000);

  it("refuses, never retryable, a command the image cannot run (missing, or not executable)", async () => {
    for (const command of [["/app/no-such-script.sh"], ["/app"]]) {
      const error = await run(executor(), spec(command)).catch((e) => e);
      expect(error, command[0]).toBeInstanceOf(AnalysisRefused);
      expect(error).toMatchObject({ field: "command", retryable: false });
    }
    expect(await taskContainers()).toBe(0);
  }, 60_000);

  it("never pulls or runs an image that is not present with its pinned digest", async () => {
    const unknown = `tremesh/stats@sha256:${"1".repeat(64)}`;
    const error = await run(executor(), spec(["/app/mean.sh"], {}, unknown)).catch((e) => e);
    expect(error).toBeInstanceOf(AnalysisRefused);
    expect(await taskContainers()).toBe(0);
  }, 60_000);

  describe("outputs", () => {
    it("refuses a symbolic link in /outputs without reading what it points to or naming it", async () => {
      const exits: ContainerExit[] = [];
      const link = spec(["sh", "-c", 'ln -s /etc/hostname "$TREMESH_OUTPUT_DIR/secret-name.txt"']);
      const error = await run(executor({}, exits), link).catch((e) => e);
      expect(error).toBeInstanceOf(ExecutorFailed);
      expect(error.message).toBe(
        "the container left a symbolic link in /outputs; only plain files are collected",
      );
      expect(exits.at(-1)?.refused).toContain("secret-name.txt");
    }, 60_000);

    it("refuses a directory, too many files and too many bytes", async () => {
      const subdir = spec(["sh", "-c", 'mkdir "$TREMESH_OUTPUT_DIR/d"']);
      expect((await run(executor(), subdir).catch((e) => e)).message).toMatch(/a directory in \/outputs/);
      const many = spec(["sh", "-c", 'for i in 1 2 3 4; do echo $i > "$TREMESH_OUTPUT_DIR/$i.txt"; done']);
      expect((await run(executor({ maxOutputFiles: 3 }), many).catch((e) => e)).message).toMatch(
        /wrote 4 files .* at most 3/,
      );
      const big = spec(["sh", "-c", 'head -c 5000 /dev/zero > "$TREMESH_OUTPUT_DIR/big.bin"']);
      expect((await run(executor({ maxOutputBytes: 4096 }), big).catch((e) => e)).message).toMatch(
        /5000 bytes; this TRE collects at most 4096/,
      );
      const empty = spec(["true"]);
      expect((await run(executor(), empty).catch((e) => e)).message).toMatch(/wrote no file/);
    }, 60_000);

    it("sanitises names, and takes a JSON file as a description only when it is a valid one", async () => {
      const script = [
        'cd "$TREMESH_OUTPUT_DIR"',
        "echo a > 'a b.csv'",
        "echo b > .hidden",
        "echo c > 'ünï.txt'",
        `echo d > ${"x".repeat(150)}.csv`,
        `echo '{"kind":"count","groupBy":[],"cells":[{"key":[],"n":"many"}]}' > bad.json`,
        `echo '{"kind":"count","groupBy":[],"cells":[{"key":[],"n":5}],"rounding":5}' > claims-rounding.json`,
        `echo '{"kind":"count","groupBy":[],"cells":[{"key":[],"n":7}]}' > good.json`,
      ].join("; ");
      const outputs = await run(executor(), spec(["sh", "-c", script]));
      const names = outputs.map((o) => o.name);
      expect(names).toContain("a_b.csv");
      expect(names).toContain("_hidden");
      expect(names.some((n) => /^[A-Za-z0-9._-]+$/.test(n) && n.endsWith(".txt"))).toBe(true);
      const long = names.find((n) => n.startsWith("xxx"));
      expect(long?.length).toBe(100);
      expect(long?.endsWith(".csv")).toBe(true);
      for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/);
      const media = new Map(outputs.map((o) => [o.name, o.mediaType]));
      expect(media.get("bad.json")).toBe("application/json");
      expect(media.get("claims-rounding.json")).toBe("application/json");
      expect(media.get("good.json")).toBe(OUTPUT_MEDIA_TYPE);
    }, 60_000);
  });

  it("removes containers and scratch left by an earlier agent process", async () => {
    const orphan = await api.docker.createContainer({
      Image: image.id,
      Cmd: ["sleep", "60"],
      Labels: { [LABEL_TRE]: TRE },
    });
    await orphan.start();
    const other = await api.docker.createContainer({
      Image: image.id,
      Cmd: ["true"],
      Labels: { [LABEL_TRE]: "other" },
    });
    try {
      expect(await taskContainers()).toBe(1);
      expect(await executor().cleanUp()).toBeGreaterThanOrEqual(1);
      expect(await taskContainers()).toBe(0);
      // Another TRE's (or anyone else's) containers are not touched.
      expect((await other.inspect()).Id).toBeTruthy();
    } finally {
      await other.remove({ force: true });
    }
  }, 60_000);
});
