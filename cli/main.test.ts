import { readFileSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isPublicKey } from "../protocol/index.js";
import { ExitCode } from "./exit-codes.js";
import { run } from "./main.js";

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) }, out, err };
}

describe("tremesh command line", () => {
  it("lists its commands and exit codes with --help", async () => {
    const c = capture();
    expect(await run(["--help"], c.io)).toBe(ExitCode.ok);
    expect(c.out.join("\n")).toMatch(/demo\s+run a hub, three TREs/);
    expect(c.out.join("\n")).toContain("2  usage");
  });

  it("names an unknown command or flag and exits with the usage code", async () => {
    const c = capture();
    expect(await run(["sumbit"], c.io)).toBe(ExitCode.usage);
    expect(c.err[0]).toBe('tremesh: unknown command "sumbit" (see tremesh --help)');
    expect(await run(["keygen", "--colour", "red"], c.io)).toBe(ExitCode.usage);
    expect(c.err[1]).toMatch(/^tremesh keygen: .*--colour/);
  });

  it("keygen writes the seed to an owner-only file and prints only the public key", async () => {
    const dir = await mkdtemp(join(tmpdir(), "tremesh-keygen-"));
    const c = capture();
    const out = join(dir, "tre.seed");
    expect(await run(["keygen", "--out", out], c.io)).toBe(ExitCode.ok);
    expect(isPublicKey(c.out[0]!)).toBe(true);
    expect(readFileSync(out, "utf8")).toMatch(/^SU[A-Z2-7]{56}\n$/);
    expect(c.out.join("")).not.toContain(readFileSync(out, "utf8").trim());
    // Refuses to overwrite an existing key.
    expect(await run(["keygen", "--out", out], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toBe(`tremesh keygen: ${out} exists; refusing to overwrite a key`);
  });
});

describe("tremesh submit --tes", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  async function tesFile(executor: Record<string, unknown>, extra: Record<string, unknown> = {}) {
    const file = join(await mkdtemp(join(tmpdir(), "tremesh-tes-")), "task.json");
    const task = { executors: [executor], tags: { Project: "diabetes", tres: "north|south" }, ...extra };
    await writeFile(file, JSON.stringify(task));
    return file;
  }
  const pinned = { image: `tremesh/stats@sha256:${"0".repeat(64)}`, command: ["mean", "age"] };

  it("refuses a TES task and an ANALYSIS.json together with the usage code", async () => {
    const c = capture();
    const file = await tesFile(pinned);
    expect(await run(["submit", "--tes", file, "count.json"], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual(["tremesh submit: submit: give either ANALYSIS.json or --tes TASK.json, not both"]);
  });

  it("names the file and the TES field of an image pinned by tag only", async () => {
    const c = capture();
    const file = await tesFile({ image: "tremesh/stats:latest", command: ["mean"] });
    expect(await run(["submit", "--tes", file], c.io)).toBe(ExitCode.badInput);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toContain(
      `tremesh submit: ${file}: executors[0].image: "tremesh/stats:latest" is named by tag only; pin it by digest as name@sha256:`,
    );
  });

  it("reports an unreadable or malformed task file as bad input", async () => {
    const c = capture();
    const missing = join(await mkdtemp(join(tmpdir(), "tremesh-tes-")), "none.json");
    expect(await run(["submit", "--tes", missing], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toBe(`tremesh submit: ${missing}: cannot read (ENOENT)`);
    await writeFile(missing, "{ not json");
    expect(await run(["submit", "--tes", missing], c.io)).toBe(ExitCode.badInput);
    expect(c.err.at(-1)).toContain(`tremesh submit: ${missing}: not valid JSON: `);
  });

  it("prints what it ignores as warnings on stderr before contacting the hub", async () => {
    vi.stubEnv("TREMESH_PROFILE", "");
    const c = capture();
    const file = await tesFile({ ...pinned, stdout: "/outputs/log.txt" }, { resources: { cpu_cores: 2 } });
    // No profile, so the command stops before any connection: everything seen here came first.
    expect(await run(["submit", "--tes", file, "--project", "cardio"], c.io)).toBe(ExitCode.usage);
    expect(c.err).toEqual([
      `tremesh submit: warning: ${file}: tags.Project: "diabetes" replaced by the project given separately, "cardio"`,
      `tremesh submit: warning: ${file}: executors[0].stdout: ignored: tremesh keeps a container's stdout and stderr inside the TRE`,
      `tremesh submit: warning: ${file}: resources: ignored: the TRE's own CPU, memory, disk and time limits apply (its leaf.yaml)`,
      "tremesh submit: no profile: give --profile FILE or set TREMESH_PROFILE",
    ]);
    expect(c.out).toEqual([]);
  });
});
