import { describe, expect, it } from "vitest";
import { analysisOutput } from "../protocol/index.js";
import { outputTable, pathLabels } from "./airlock-page-tables.js";

const crosstab = analysisOutput(
  {
    kind: "crosstab",
    dataset: "patients",
    analysis: { kind: "crosstab", dataset: "patients", rows: "sex", cols: "smoker" },
    rows: "sex",
    cols: "smoker",
    rowKeys: ["F", "M"],
    colKeys: [false, true],
    cells: [
      [40, null],
      [35, 20],
    ],
    suppressed: [{ at: "cells[0][1]", rule: "min_cell", atMost: 9 }],
  },
  "",
);

const summary = analysisOutput(
  {
    kind: "summary",
    dataset: "patients",
    analysis: { kind: "summary", dataset: "patients", column: "bmi", groupBy: ["sex"] },
    column: "bmi",
    groupBy: ["sex"],
    cells: [
      { key: ["F"], n: 3, mean: 27.5, variance: 2.25 },
      { key: ["M"], n: 40, mean: 26, variance: 4 },
    ],
  },
  "",
);

describe("an output as a table on the review page", () => {
  it("highlights the flagged cell of a crosstab with its rule and detail, and shows a withheld cell with its bound", () => {
    const table = outputTable(crosstab, [
      { at: "cells[1][1]", rule: "dominance", outcome: "fail", detail: "2 people hold 95% of the total" },
    ]).text;
    expect(table).toContain(
      '<td class="flag flag-fail" data-at="cells[1][1]">20<span class="why"><span class="rule">dominance</span> 2 people hold 95% of the total</span></td>',
    );
    expect(table).toContain("<td>withheld (≤9)</td>");
    expect(table.match(/class="flag/g)).toHaveLength(1);
  });

  it("flags a summary cell's n, not its mean and variance", () => {
    const table = outputTable(summary, [
      {
        at: "cells[0]",
        rule: "min_cell",
        outcome: "fail",
        detail: "n = 3 is below the minimum cell count 10",
      },
    ]).text;
    expect(table).toContain('<td class="flag flag-fail" data-at="cells[0]">3<span class="why">');
    expect(table.match(/class="flag/g)).toHaveLength(1);
    expect(table).toContain("<td>27.5</td>");
  });
});

describe("the words a reviewer finds a value by", () => {
  it("name a crosstab cell by its row and column, and a summary cell by its group", () => {
    expect(pathLabels(crosstab).get("cells[0][1]")).toBe("F × true");
    expect(pathLabels(crosstab).get("cells[1][0]")).toBe("M × false");
    expect(pathLabels(summary).get("cells[0]")).toBe("F");
  });
});
