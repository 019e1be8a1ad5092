import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
