import { describe, expect, it } from "vitest";
import { columnStats, csvPreview, parseCsv } from "./airlock-page-csv.js";

describe("a container's CSV file on the review page", () => {
  it("reads quoted fields, doubled quotes and CRLF lines", () => {
    expect(parseCsv('a,b\r\n"x, ""y""",2\n')).toEqual([
      ["a", "b"],
      ['x, "y"', "2"],
    ]);
  });

  it("gives per column the minimum, the minimum above zero, the maximum, missing values and rounding", () => {
    const rows = parseCsv("group,n,mean\nA,0,1.5\nB,15,NA\nC,3,\nD,20,2\n");
    expect(columnStats(rows, 5)).toEqual([
      { name: "group", numbers: 0, missing: 0 },
      { name: "n", numbers: 4, missing: 0, min: 0, minAboveZero: 3, max: 20, multiplesOfBase: false },
      { name: "mean", numbers: 2, missing: 2, min: 1.5, minAboveZero: 1.5, max: 2, multiplesOfBase: false },
    ]);
    expect(columnStats(parseCsv("n\n0\n10\n25\n"), 5)[0]?.multiplesOfBase).toBe(true);
  });

  it("escapes every header and value", () => {
    const page = csvPreview('"<b>h</b>",x\n"<script>alert(1)</script>",\'"><img src=x>\n', 5).text;
    expect(page).not.toContain("<script>");
    expect(page).not.toContain("<img");
    expect(page).not.toContain("<b>h");
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
  });
});
