import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { zipFiles } from "./zip.js";

const text = new TextEncoder().encode(
  `${JSON.stringify({ rows: Array.from({ length: 4000 }, (_, i) => i) })}\n`,
);
const noise = new Uint8Array(randomBytes(4096));

describe("zipFiles", () => {
  it("writes a zip that reads back with every file's bytes, deflated, stored, empty or named in UTF-8", () => {
    const zip = zipFiles([
      ["bagit.txt", new TextEncoder().encode("BagIt-Version: 1.0\n"), false],
      ["data/ro-crate-metadata.json", text, true],
      ["data/noise.bin", noise, true],
      ["data/empty.txt", new Uint8Array(), true],
      ["data/résumé.csv", new TextEncoder().encode("a,b\n"), true],
    ]);
    const files = unzipSync(zip);
    expect(Object.keys(files)).toEqual([
      "bagit.txt",
      "data/ro-crate-metadata.json",
      "data/noise.bin",
      "data/empty.txt",
      "data/résumé.csv",
    ]);
    expect(files["data/ro-crate-metadata.json"]).toEqual(text);
    expect(files["data/noise.bin"]).toEqual(noise);
    expect(files["data/empty.txt"]).toEqual(new Uint8Array());
    expect(new TextDecoder().decode(files["data/résumé.csv"])).toBe("a,b\n");
    // The text is deflated; the noise, which deflate cannot shrink, is stored.
    expect(zip.length).toBeLessThan(noise.length + text.length / 2);
    expect(zip.length).toBeGreaterThan(noise.length);
  });

  it("zips the same files to the same bytes", () => {
    const files = [["data/a.json", text, true] as const, ["b.txt", noise, false] as const];
    expect(Buffer.from(zipFiles(files)).equals(Buffer.from(zipFiles(files)))).toBe(true);
  });

  it("is read by Python's zipfile, with each file's CRC checked, when Python is here", () => {
    let python = true;
    try {
      execFileSync("python3", ["--version"], { stdio: "ignore" });
    } catch {
      python = false;
    }
    if (!python) return;
    const dir = mkdtempSync(join(tmpdir(), "tremesh-zip-"));
    try {
      const path = join(dir, "crate.zip");
      writeFileSync(
        path,
        zipFiles([
          ["data/ro-crate-metadata.json", text, true],
          ["noise.bin", noise, true],
        ]),
      );
      const listed = execFileSync(
        "python3",
        [
          "-c",
          "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(*[f'{i.filename} {i.file_size}' for i in z.infolist()])",
          path,
        ],
        { encoding: "utf8" },
      );
      expect(listed.trim()).toBe(`data/ro-crate-metadata.json ${text.length} noise.bin ${noise.length}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
