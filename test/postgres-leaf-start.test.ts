/**
 * A TRE's leaf started while its PostgreSQL is away, or refuses the broker's login (leaf.yaml `postgres`), starts
 * anyway, as it does when the broker lacks a grant: it says which leaf.yaml fields to check, its file datasets work,
 * and a task on the PostgreSQL dataset fails with a reason that names no host, port or role. Before this, `tremesh
 * leaf start` stopped with "unexpected error: … ECONNREFUSED 127.0.0.1:PORT" and no field named.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import {
  generatePatients,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
  writePatientsPostgres,
} from "../fixtures/index.js";
import type { LeafNodeEvent } from "../leaf/index.js";
import { BROKER_REFUSED } from "../leaf/task-execution.js";
import { approveProject, childReaches, type Federation, startFederation } from "./harness/federation.js";
import { type PostgresHandle, startPostgres } from "./harness/postgres.js";
import { uniqueToken } from "./harness/unique.js";

const rows = generatePatients(patientProfiles.small, 5);
const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };
const rolePrefix = `tp_${uniqueToken()}_`;
let pg: PostgresHandle;
let fed: Federation;
let closedPort: number;
const events: LeafNodeEvent[] = [];

/** A loopback port nothing listens on: one the system gave out and took back. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

async function setPostgres(fields: Record<string, unknown>): Promise<void> {
  const file = fed.files.leafConfigs.a!;
  const doc = parse(await readFile(file, "utf8")) as { postgres: Record<string, unknown> };
  Object.assign(doc.postgres, fields);
  await writeFile(file, stringify(doc));
}

async function submitCount(dataset: string): Promise<string> {
  const file = join(fed.files.dir, `count-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify({ kind: "count", dataset }));
  const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a", file], "alice");
  expect(r.err).toEqual([]);
  return r.out[0]!;
}

beforeAll(async () => {
  pg = await startPostgres();
  const admin = await pg.connectAdmin();
  await writePatientsPostgres(admin, rows);
  closedPort = await freePort();
  fed = await startFederation({
    tres: ["a"],
    researchers: ["alice"],
    startLeaves: [],
    onLeafEvent: (_tre, e) => events.push(e),
    leafExtra: () => ({
      datasets: [
        { name: "patients", engine: "csv", path: "./patients-a.csv", ...allow },
        { name: "registry", engine: "postgres", schema: "public", table: "patients", ...allow },
        { name: "archive", engine: "postgres", schema: "public", table: "patients_gone", ...allow },
      ],
      postgres: {
        host: "127.0.0.1",
        port: closedPort,
        database: pg.database,
        user: pg.adminUser,
        passwordFile: "./secrets/pg.password",
        rolePrefix,
      },
      maxTaskAttempts: 1,
      projects: [
        {
          name: "diabetes",
          researchers: ["alice"],
          analyses: ["count"],
          datasets: ["patients", "registry", "archive"],
        },
      ],
    }),
  });
  await writePatientsCsv(rows, join(fed.files.dir, "patients-a.csv"));
  await writeFile(join(fed.files.dir, "secrets", "pg.password"), `${pg.adminPassword}\n`, { mode: 0o600 });
  await approveProject(fed, { project: "diabetes", tres: ["a"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await pg?.stop();
});

describe("a leaf whose PostgreSQL is away or refuses the broker at start", () => {
  it("starts, names postgres.host and postgres.port, runs its CSV dataset, and fails the PostgreSQL task without internals", async () => {
    events.length = 0;
    await fed.startLeaf("a");
    const said = events.flatMap((e) => (e.type === "postgres-unavailable" ? [e.problem] : []));
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `^PostgreSQL cannot be reached at leaf\\.yaml postgres\\.host 127\\.0\\.0\\.1, postgres\\.port ${closedPort} .*every task on datasets 'registry', 'archive' fails.*Start PostgreSQL, or correct postgres\\.host and postgres\\.port$`,
        ),
      ),
    ]);
    await childReaches(fed, await submitCount("patients"), "a", "outputs_pending_review");
    const failed = await childReaches(fed, await submitCount("registry"), "a", "executor_error");
    const reason = failed.history.at(-1)?.reason ?? "";
    expect(reason).toMatch(/the TRE's database could not be reached/);
    expect(reason).not.toContain(String(closedPort));
    expect(reason).not.toContain("127.0.0.1");
    await fed.stopLeaf("a");
  });

  it("starts, naming postgres.user and postgres.passwordFile, when PostgreSQL refuses the password", async () => {
    await setPostgres({ port: pg.port });
    await writeFile(join(fed.files.dir, "secrets", "pg.password"), "not-the-password\n", { mode: 0o600 });
    events.length = 0;
    await fed.startLeaf("a");
    const said = events.flatMap((e) => (e.type === "postgres-unavailable" ? [e.problem] : []));
    expect(said).toEqual([
      expect.stringMatching(
        new RegExp(
          `^PostgreSQL refused the login of leaf\\.yaml postgres\\.user '${pg.adminUser}' .*\\(28P01\\)\\): .*Check that postgres\\.passwordFile holds that role's password`,
        ),
      ),
    ]);
    expect(said.join("")).not.toContain("not-the-password");
    await fed.stopLeaf("a");
  });

  it("tells the researcher that a task the broker cannot serve is the TRE's to mend, naming no table or role", async () => {
    await setPostgres({ port: pg.port });
    await writeFile(join(fed.files.dir, "secrets", "pg.password"), `${pg.adminPassword}\n`, { mode: 0o600 });
    events.length = 0;
    await fed.startLeaf("a");
    expect(events.filter((e) => e.type === "postgres-unavailable")).toEqual([]);
    await childReaches(fed, await submitCount("registry"), "a", "outputs_pending_review");
    const failed = await childReaches(fed, await submitCount("archive"), "a", "executor_error");
    const reason = failed.history.at(-1)?.reason ?? "";
    expect(reason).toBe(BROKER_REFUSED);
    expect(reason).not.toMatch(/patients_gone|tp_|127\.0\.0\.1/);
    await fed.stopLeaf("a");
  });
});
