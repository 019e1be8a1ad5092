import { spawnSync } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";

describe("scripts/setup.mjs on a fresh clone", () => {
  it("installs exactly the committed lock with npm ci, never npm install (which rewrites it)", async () => {
    // A clone with no node_modules, and an `npm` on PATH that records how it was called and fails, so set-up
    // stops after its first step.
    const clone = await mkdtemp(join(tmpdir(), "tremesh-setup-"));
    onTestFinished(() => rm(clone, { recursive: true, force: true }));
    await mkdir(join(clone, "scripts"));
    await copyFile(new URL("../scripts/setup.mjs", import.meta.url), join(clone, "scripts", "setup.mjs"));
    await copyFile(new URL("../package-lock.json", import.meta.url), join(clone, "package-lock.json"));
    const bin = join(clone, "bin");
    await mkdir(bin);
    await writeFile(join(bin, "npm"), `#!/bin/sh\necho "$@" > "${join(clone, "npm-args")}"\nexit 7\n`);
    await chmod(join(bin, "npm"), 0o755);
    const r = spawnSync(process.execPath, [join(clone, "scripts", "setup.mjs")], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: "utf8",
    });
    expect(r.status).toBe(1);
    expect((await readFile(join(clone, "npm-args"), "utf8")).trim().split(" ")[0]).toBe("ci");
    expect(r.stderr).toContain("setup: 'npm ci --no-audit --no-fund' failed (exit 7)");
  });
});
