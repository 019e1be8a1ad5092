import { describe, expect, it } from "vitest";
import { MAX_FILE_NAME, safeFileName, uniqueSafeNames } from "./file-names.js";

describe("safeFileName", () => {
  it("turns a path that climbs out of the folder into one plain name", () => {
    expect(safeFileName("../../etc/passwd")).toBe("_._.._etc_passwd");
    expect(safeFileName("/etc/passwd")).toBe("_etc_passwd");
    expect(safeFileName("a\\b\\c.csv")).toBe("a_b_c.csv");
    expect(safeFileName("..")).toBe("_.");
    expect(safeFileName(".")).toBe("_");
  });

  it("never starts a name with a dot or a dash", () => {
    expect(safeFileName(".hidden")).toBe("_hidden");
    expect(safeFileName(".bashrc.csv")).toBe("_bashrc.csv");
    expect(safeFileName("-rf")).toBe("_rf");
  });

  it("keeps letters, digits, dot, underscore and dash, one _ for anything else", () => {
    expect(safeFileName("table_1-final.v2.csv")).toBe("table_1-final.v2.csv");
    expect(safeFileName("résumé 📊.csv")).toBe("r_sum___.csv");
    // The same name decomposed (e + combining accent) gives the same result.
    expect(safeFileName("re\u0301sume\u0301 📊.csv")).toBe("r_sum___.csv");
    expect(safeFileName("\u001b[2J\u202ereport.txt")).toBe("__2J_report.txt");
    expect(safeFileName("a\u0000b")).toBe("a_b");
    expect(safeFileName("")).toBe("file");
  });

  it("cuts very long names to the limit, keeping a short extension", () => {
    const long = safeFileName(`${"x".repeat(300)}.csv`);
    expect(long).toHaveLength(MAX_FILE_NAME);
    expect(long.endsWith("xx.csv")).toBe(true);
    expect(safeFileName("y".repeat(300))).toBe("y".repeat(MAX_FILE_NAME));
    const oddExtension = safeFileName(`a.${"b".repeat(300)}`);
    expect(oddExtension).toHaveLength(MAX_FILE_NAME);
    expect(oddExtension.startsWith("a.bbb")).toBe(true);
    expect(safeFileName("文".repeat(200))).toBe("_".repeat(MAX_FILE_NAME));
  });
});

describe("uniqueSafeNames", () => {
  it("tells apart names that end up equal, ignoring case, with -2, -3 before the extension", () => {
    expect(uniqueSafeNames(["table.csv", "table.csv", "TABLE.csv", "tab le.csv", "tab_le.csv"])).toEqual([
      "table.csv",
      "table-2.csv",
      "TABLE-3.csv",
      "tab_le.csv",
      "tab_le-2.csv",
    ]);
    expect(uniqueSafeNames(["a/b", "a b", "a?b", "report", "report"])).toEqual([
      "a_b",
      "a_b-2",
      "a_b-3",
      "report",
      "report-2",
    ]);
  });

  it("keeps suffixed long names within the limit and distinct", () => {
    const names = uniqueSafeNames([
      `${"é".repeat(150)}.csv`,
      `${"ü".repeat(150)}.csv`,
      `${"_".repeat(150)}.csv`,
    ]);
    expect(new Set(names).size).toBe(3);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(MAX_FILE_NAME);
    expect(names[1]?.endsWith("_-2.csv")).toBe(true);
    expect(names[2]?.endsWith("_-3.csv")).toBe(true);
  });
});
