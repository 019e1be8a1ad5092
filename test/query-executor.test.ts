/**
 * The query executor against real engines: a DuckDB file, CSV and Parquet through DuckDB, and a real
 * PostgreSQL cluster with a per-task role from the credential broker. Every analysis must equal the
 * same statistic computed in plain JS from the generated rows; every refusal must be clear and leave
 * the data exactly as it was.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AnalysisRefused, ExecutorFailed, type QuerySpec } from "../executors/index.js";
import { generatePatients, patientProfiles } from "../fixtures/index.js";
import { type AnalysisSpec, decodeOutput, newId, OUTPUT_MEDIA_TYPE } from "../protocol/index.js";
import { ENGINES, type Engine, type PatientEngines, startPatientEngines } from "./harness/patient-engines.js";
import { expectSameStatistics, referenceDominance, referenceOutput } from "./harness/reference-stats.js";

const rows = generatePatients(patientProfiles.north, 20_240_607);
let engines: PatientEngines;
beforeAll(async () => {
  engines = await startPatientEngines({ rows });
});
afterAll(async () => {
  await engines?.stop();
});

const d = { dataset: "patients" } as const;
const INJECTION = "x'; DROP TABLE patients; --";

/** Analyses covering every kind, group-by, every filter operator, nulls and empty results. */
const analyses: [string, QuerySpec][] = [
  ["count of everyone", { kind: "count", ...d }],
  ["count by region and smoker (smoker has nulls)", { kind: "count", ...d, groupBy: ["region", "smoker"] }],
  [
    "count with eq, between, in and not_null",
    {
      kind: "count",
      ...d,
      groupBy: ["sex"],
      filters: [
        { column: "diabetes", op: "eq", value: false },
        { column: "age", op: "between", value: [40, 65] },
        { column: "region", op: "in", value: ["lowlands", "islands", "o'brien"] },
        { column: "bmi", op: "not_null" },
      ],
    },
  ],
  [
    "count with gt, le and ne",
    {
      kind: "count",
      ...d,
      groupBy: ["diabetes"],
      filters: [
        { column: "age", op: "gt", value: 50 },
        { column: "systolic_bp", op: "le", value: 150.5 },
        { column: "region", op: "ne", value: "islands" },
      ],
    },
  ],
  [
    "count with ge, lt and is_null",
    {
      kind: "count",
      ...d,
      filters: [
        { column: "age", op: "ge", value: 30 },
        { column: "age", op: "lt", value: 60 },
        { column: "bmi", op: "is_null" },
      ],
    },
  ],
  [
    "count where an injection attempt is just a value",
    { kind: "count", ...d, filters: [{ column: "region", op: "eq", value: INJECTION }] },
  ],
  [
    "count with no rows and a group-by",
    { kind: "count", ...d, groupBy: ["sex"], filters: [{ column: "age", op: "gt", value: 200 }] },
  ],
  ["summary of bmi (with nulls)", { kind: "summary", ...d, column: "bmi" }],
  [
    "summary of systolic_bp by sex and region",
    { kind: "summary", ...d, column: "systolic_bp", groupBy: ["sex", "region"] },
  ],
  [
    "summary of cholesterol by smoker among the oldest (tiny groups)",
    {
      kind: "summary",
      ...d,
      column: "cholesterol",
      groupBy: ["smoker", "sex"],
      filters: [{ column: "age", op: "ge", value: 92 }],
    },
  ],
  [
    "summary over no rows",
    { kind: "summary", ...d, column: "age", filters: [{ column: "age", op: "lt", value: 0 }] },
  ],
  [
    "histogram of age, with values below and above",
    { kind: "histogram", ...d, column: "age", bins: { min: 20, max: 90, count: 7 } },
  ],
  [
    "histogram of age whose max lands in the last bin",
    { kind: "histogram", ...d, column: "age", bins: { min: 18, max: 95, count: 11 } },
  ],
  [
    "histogram of bmi (nulls missing), filtered",
    {
      kind: "histogram",
      ...d,
      column: "bmi",
      bins: { min: 15.5, max: 45.5, count: 40 },
      filters: [{ column: "sex", op: "eq", value: "F" }],
    },
  ],
  ["crosstab of region by smoker (null column)", { kind: "crosstab", ...d, rows: "region", cols: "smoker" }],
  [
    "crosstab of diabetes by sex, filtered",
    {
      kind: "crosstab",
      ...d,
      rows: "diabetes",
      cols: "sex",
      filters: [{ column: "age", op: "ge", value: 60 }],
    },
  ],
  [
    "regression of systolic_bp on age, bmi and smoker",
    { kind: "regression", ...d, outcome: "systolic_bp", predictors: ["age", "bmi", "smoker"] },
  ],
  [
    "regression without intercept, filtered",
    {
      kind: "regression",
      ...d,
      outcome: "cholesterol",
      predictors: ["age", "diabetes"],
      intercept: false,
      filters: [{ column: "region", op: "in", value: ["highlands", "lowlands"] }],
    },
  ],
];

describe.each(ENGINES)("query executor on %s", (engine: Engine) => {
  it.each(analyses)("%s equals the statistic computed from the rows", async (_name, spec) => {
    const outputs = await engines.run(engine, spec);
    expect(outputs).toHaveLength(1);
    const [output] = outputs;
    expect(output?.name).toBe(`${spec.kind}.json`);
    expect(output?.mediaType).toBe(OUTPUT_MEDIA_TYPE);
    expect(decodeOutput(output?.bytes ?? new Uint8Array())).toEqual(output?.description);
    expectSameStatistics(output?.description, referenceOutput(spec, rows));
    if (spec.kind !== "summary") expect(output?.facts).toBeUndefined();
  });

  it.each(analyses.filter(([, spec]) => spec.kind === "summary"))(
    "%s gives private dominance facts equal to the rows', outside the output document",
    async (_name, spec) => {
      if (spec.kind !== "summary") throw new Error("not a summary");
      const [output] = await engines.run(engine, spec);
      const expected = referenceDominance(spec, rows);
      expect(expected.length).toBeGreaterThan(0);
      expectSameStatistics(output?.facts, { dominance: expected });
      const text = new TextDecoder().decode(output?.bytes);
      expect(text).not.toMatch(/"(facts|dominance|top|total)"/);
      expect(Object.keys(decodeOutput(output?.bytes ?? new Uint8Array()))).not.toContain("facts");
    },
  );

  it("refuses identifier and unlisted columns, and hostile names, with the field at fault", async () => {
    const cases: [unknown, RegExp][] = [
      [
        { kind: "count", ...d, groupBy: ["patient_id"] },
        /^groupBy\[0\]: 'patient_id' is an identifier column/,
      ],
      [{ kind: "summary", ...d, column: "postcode" }, /^column: 'postcode' is not an allowed column/],
      [
        { kind: "count", ...d, filters: [{ column: "PATIENT_ID", op: "eq", value: "P000001" }] },
        /^filters\[0\]\.column: 'PATIENT_ID' is an identifier/,
      ],
      [
        { kind: "crosstab", ...d, rows: "sex", cols: 'sex" FROM patients; --' },
        /^cols: .* is not an identifier/,
      ],
      [
        { kind: "regression", ...d, outcome: "age", predictors: ["patient_id"] },
        /^predictors\[0\]: 'patient_id' is an identifier/,
      ],
      [{ kind: "count", dataset: "patients; DROP TABLE patients" }, /^dataset: .* is not an identifier/],
      [{ kind: "count", dataset: "visits" }, /^dataset: 'visits' is not a dataset of this TRE$/],
      [
        { kind: "count", ...d, filters: [{ column: "region", op: "eq", value: 3 }] },
        /^filters\[0\]\.value: 'region' holds text values; expected a string, got number$/,
      ],
    ];
    for (const [spec, message] of cases) {
      const error = await engines.run(engine, spec as AnalysisSpec).catch((e: unknown) => e);
      expect(error, JSON.stringify(spec)).toBeInstanceOf(AnalysisRefused);
      expect((error as AnalysisRefused).message).toMatch(message);
      expect((error as AnalysisRefused).retryable).toBe(false);
    }
  });

  it("fails without leaking data values when the TRE's declaration does not match the table", async () => {
    // region holds text; declaring it numeric would make the database quote a region name in its error.
    const [dataset] = engines.datasets(engine);
    const wrong = { ...dataset!, columns: { ...dataset!.columns, region: "numeric" as const } };
    const taskId = newId();
    await using issued = await engines.broker.issue(taskId, [wrong], 5_000);
    const error = await engines.executor
      .run({
        taskId,
        analysis: { kind: "summary", ...d, column: "region" },
        datasets: [wrong],
        credential: issued.credential,
        timeoutMs: 5_000,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorFailed);
    expect((error as ExecutorFailed).message).toMatch(
      /declares column 'region' numeric, but the table holds/,
    );
    expect((error as ExecutorFailed).message).not.toMatch(/lowlands|highlands|islands/);
  });
});

describe("injection attempts", () => {
  const attempts: AnalysisSpec[] = [
    { kind: "count", ...d, filters: [{ column: "region", op: "eq", value: INJECTION }] },
    {
      kind: "count",
      ...d,
      filters: [{ column: "region", op: "in", value: [INJECTION, "'); DELETE FROM patients; --"] }],
    },
    { kind: "count", ...d, filters: [{ column: "sex", op: "ne", value: '"; DROP ROLE tremesh_admin; --' }] },
    { kind: "count", ...d, groupBy: ["region; DROP TABLE patients"] } as never,
    { kind: "summary", ...d, column: "age) FROM patients; DROP TABLE patients; --" } as never,
    { kind: "count", dataset: 'patients"; DROP TABLE patients; --' } as never,
  ];

  it("leave every engine's data, and PostgreSQL's roles, exactly as they were", async () => {
    const before = await fingerprint();
    for (const engine of ENGINES) {
      for (const spec of attempts) {
        const result = await engines.run(engine, spec).catch((e: unknown) => e);
        if (result instanceof Error) expect(result, inspect(result)).toBeInstanceOf(AnalysisRefused);
        else expect(result).toMatchObject([{ description: { cells: [{ n: expect.any(Number) }] } }]);
      }
    }
    expect(await fingerprint()).toEqual(before);
  });
});

/** Row count and checksum of the PostgreSQL table, its non-task roles, and the files' bytes. */
async function fingerprint(): Promise<Record<string, unknown>> {
  const admin = await engines.pg.connectAdmin();
  try {
    const table = await admin.query(
      "SELECT count(*) AS n, md5(string_agg(p::text, ',' ORDER BY patient_id)) AS sum FROM patients p",
    );
    const roles = await admin.query(
      "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'tq\\_%' ORDER BY 1",
    );
    const files: Record<string, string> = {};
    for (const name of ["patients.duckdb", "patients.csv", "patients.parquet"]) {
      files[name] = createHash("sha256")
        .update(await readFile(`${engines.dir}/${name}`))
        .digest("hex");
    }
    return { table: table.rows[0], roles: roles.rows.map((r) => r.rolname), files };
  } finally {
    await admin.end();
  }
}
