import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { TaskResults, TreFile } from "../aggregator/index.js";
import { CliError } from "./exit-codes.js";
import { printable } from "./printable.js";
import { formatSize, saveReleasedFiles } from "./released-files.js";
import { aggregateJson } from "./results-command.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("saveReleasedFiles", () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), "tremesh-save-"));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it("writes each file to DIR/<tre>/<safe name>, creating DIR private, and never one over another", async () => {
    const dir = join(tmp, "out");
    const saved = await saveReleasedFiles(dir, [
      { tre: "north", name: "table.csv", data: bytes("a,b\n1,2\n") },
      { tre: "north", name: "../../etc/passwd", data: bytes("not a password file") },
      { tre: "north", name: "table.csv", data: bytes("second table\n") },
      { tre: "south", name: "table.csv", data: bytes("south table\n") },
    ]);
    expect(saved.map((s) => [s.tre, s.name, s.path, s.bytes])).toEqual([
      ["north", "table.csv", join(dir, "north", "table.csv"), 8],
      ["north", "../../etc/passwd", join(dir, "north", "_._.._etc_passwd"), 19],
      ["north", "table.csv", join(dir, "north", "table-2.csv"), 13],
      ["south", "table.csv", join(dir, "south", "table.csv"), 12],
    ]);
    expect(await readFile(join(dir, "north", "table.csv"), "utf8")).toBe("a,b\n1,2\n");
    expect(await readFile(join(dir, "north", "table-2.csv"), "utf8")).toBe("second table\n");
    expect(await readFile(join(dir, "south", "table.csv"), "utf8")).toBe("south table\n");
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "north"))).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, "north", "table.csv"))).mode & 0o777).toBe(0o600);
  });

  it("writes nothing and creates no folder when there are no files", async () => {
    const dir = join(tmp, "none");
    expect(await saveReleasedFiles(dir, [])).toEqual([]);
    await expect(stat(dir)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a symlink already at a target path, naming it, and writes nothing", async () => {
    const dir = join(tmp, "out");
    await mkdir(join(dir, "north"), { recursive: true });
    const victim = join(tmp, "victim.txt");
    await writeFile(victim, "precious\n");
    await symlink(victim, join(dir, "north", "plot.png"));
    const save = saveReleasedFiles(dir, [
      { tre: "north", name: "table.csv", data: bytes("a,b\n") },
      { tre: "north", name: "plot.png", data: bytes("overwritten?") },
    ]);
    await expect(save).rejects.toBeInstanceOf(CliError);
    await expect(save).rejects.toThrow(
      `${join(dir, "north", "plot.png")} is a symlink; not following or replacing it`,
    );
    expect(await readFile(victim, "utf8")).toBe("precious\n");
    expect((await lstat(join(dir, "north", "plot.png"))).isSymbolicLink()).toBe(true);
    await expect(stat(join(dir, "north", "table.csv"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses a dangling symlink at a target path too", async () => {
    const dir = join(tmp, "out");
    await mkdir(join(dir, "north"), { recursive: true });
    const nowhere = join(tmp, "would-be-created.txt");
    await symlink(nowhere, join(dir, "north", "table.csv"));
    await expect(
      saveReleasedFiles(dir, [{ tre: "north", name: "table.csv", data: bytes("x") }]),
    ).rejects.toThrow(/table\.csv is a symlink/);
    await expect(stat(nowhere)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("refuses to overwrite an existing file, naming it", async () => {
    const dir = join(tmp, "out");
    await mkdir(join(dir, "south"), { recursive: true });
    await writeFile(join(dir, "south", "table.csv"), "earlier run\n");
    await expect(
      saveReleasedFiles(dir, [{ tre: "south", name: "table.csv", data: bytes("new") }]),
    ).rejects.toThrow(`${join(dir, "south", "table.csv")} already exists; not overwriting it`);
    expect(await readFile(join(dir, "south", "table.csv"), "utf8")).toBe("earlier run\n");
  });

  it("makes DIR only where its parent is, refusing a missing parent by name and writing nothing", async () => {
    const dir = join(tmp, "typo", "out");
    await expect(
      saveReleasedFiles(dir, [{ tre: "north", name: "table.csv", data: bytes("x") }]),
    ).rejects.toThrow(
      `--save-files: cannot make the folder ${dir}: its parent folder ${join(tmp, "typo")} does not exist; make it first, or give a folder that does; nothing was written`,
    );
    await expect(stat(join(tmp, "typo"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  // Node's recursive mkdir, told ENOENT beneath /proc (a folder that is there), tries again forever: this hung.
  it("refuses a DIR under /proc in words, promptly, instead of hanging", async () => {
    for (const dir of ["/proc/tremesh-no-such", join("/proc/self", "tremesh-out", "files")]) {
      const save = saveReleasedFiles(dir, [{ tre: "north", name: "table.csv", data: bytes("x") }]);
      await expect(save).rejects.toBeInstanceOf(CliError);
      await expect(save).rejects.toThrow(
        /^--save-files: cannot make the folder \/proc\/.*; nothing was written$/,
      );
    }
  }, 5_000);

  it("refuses a TRE folder that is a symlink, and a TRE name that is not one", async () => {
    const dir = join(tmp, "out");
    await mkdir(dir);
    await mkdir(join(tmp, "elsewhere"));
    await symlink(join(tmp, "elsewhere"), join(dir, "north"));
    await expect(
      saveReleasedFiles(dir, [{ tre: "north", name: "table.csv", data: bytes("x") }]),
    ).rejects.toThrow(`${join(dir, "north")} is a symlink; not following it`);
    await expect(stat(join(tmp, "elsewhere", "table.csv"))).rejects.toMatchObject({ code: "ENOENT" });
    await expect(saveReleasedFiles(dir, [{ tre: "..", name: "x", data: bytes("x") }])).rejects.toThrow(
      /is not a TRE name/,
    );
  });
});

describe("printing what a TRE named", () => {
  it("shows control and formatting characters instead of letting them act on the terminal", () => {
    expect(printable("table.csv")).toBe("table.csv");
    expect(printable("\u001b[2Jx\u202eabc")).toBe("\\u{1b}[2Jx\\u{202e}abc");
  });

  it("formats sizes for people", () => {
    expect([formatSize(812), formatSize(4300), formatSize(1.5 * 1024 * 1024)]).toEqual([
      "812 B",
      "4.2 KiB",
      "1.5 MiB",
    ]);
  });
});

describe("aggregate --json", () => {
  it("lists each released file by TRE, name, media type, size and digest, never its bytes", () => {
    const file: TreFile = {
      tre: "north",
      outputId: "01JD3Z0000000000000000000A",
      name: "table.csv",
      digest: "ab".repeat(32),
      mediaType: "text/csv",
      data: bytes("a,b\n1,2\n"),
      approvedBy: ["UREVIEWER"],
      autoReleased: false,
    };
    const r: TaskResults = {
      task: {
        taskId: "01JD3Z0000000000000000000T",
        project: "diabetes",
        researcher: "alice",
        tres: ["north"],
        kind: "container",
        state: "completed",
        submittedAt: 0,
        updatedAt: 0,
        children: [],
      },
      accepted: [],
      excluded: [],
      keysFromHub: [],
      combined: [],
      files: [file],
    };
    const json = aggregateJson(r);
    expect(json.files).toEqual([
      {
        tre: "north",
        outputId: file.outputId,
        name: "table.csv",
        mediaType: "text/csv",
        bytes: 8,
        sha256: file.digest,
        autoReleased: false,
      },
    ]);
    expect(JSON.stringify(json)).not.toContain("a,b");
  });
});
