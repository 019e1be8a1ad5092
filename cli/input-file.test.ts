import { execFileSync } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError, ExitCode } from "./exit-codes.js";
import { readInputFile } from "./input-file.js";

describe("reading a file the user named", () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), "tremesh-input-"));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  // readFile read /dev/zero until memory ran out: `submit --crate /dev/zero` and `crate verify /dev/zero` hung.
  it("refuses a device in words (exit 3), at once, instead of reading it forever", async () => {
    const read = readInputFile("/dev/zero", "crate verify");
    await expect(read).rejects.toBeInstanceOf(CliError);
    await expect(read).rejects.toMatchObject({
      exitCode: ExitCode.badInput,
      message: "crate verify: /dev/zero: cannot read: is a device, not a file; give a file",
    });
  }, 5_000);

  it("refuses a file over the limit by its size, and reads one within it", async () => {
    const file = join(tmp, "big.json");
    await writeFile(file, "x".repeat(101));
    await expect(readInputFile(file, undefined, 100)).rejects.toThrow(
      `${file}: cannot read: is over 100 bytes, more than tremesh reads from such a file`,
    );
    expect((await readInputFile(file, undefined, 101)).length).toBe(101);
  });

  it("reads a pipe to the limit and no further", async () => {
    const fifo = join(tmp, "pipe");
    execFileSync("mkfifo", [fifo]);
    const writing = (async () => {
      const w = await open(fifo, "w");
      try {
        await w.writeFile("y".repeat(300_000));
      } catch {
        // The reader stops at its limit and closes: EPIPE here is the refusal working.
      } finally {
        await w.close();
      }
    })();
    await expect(readInputFile(fifo, undefined, 200_000)).rejects.toThrow(/is over 200000 bytes/);
    await writing;
  });
});
