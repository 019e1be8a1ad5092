/**
 * The credential broker on a real PostgreSQL cluster: what a task role can and cannot do, that it is
 * gone after release, that sweep() clears a crash's leftovers, and that the password never shows up
 * where it should not (statement text, stored verifier, logs of the credential, error messages).
 */
import { createServer } from "node:net";
import { inspect } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DatasetDefinition, ExecutorFailed, QueryExecutor } from "../executors/index.js";
import {
  generatePatients,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsPostgres,
} from "../fixtures/index.js";
import { CredentialBroker, CredentialBrokerError, scramVerifier } from "../leaf/credential-broker.js";
import { newId } from "../protocol/index.js";
import { type PostgresHandle, startPostgres } from "./harness/postgres.js";
import { uniqueToken } from "./harness/unique.js";

let server: PostgresHandle;
let admin: pg.Client;
beforeAll(async () => {
  server = await startPostgres();
  admin = await server.connectAdmin();
  await writePatientsPostgres(admin, generatePatients(patientProfiles.small, 11));
  await admin.query("CREATE TABLE visits (patient_id text, visited date)");
  await admin.query("INSERT INTO visits VALUES ('P000001', '2024-01-02')");
  await admin.query("CREATE TABLE open_table (patient_id text, age int)");
  await admin.query("GRANT SELECT ON open_table TO PUBLIC");
});
afterAll(async () => {
  await server?.stop();
});

const patients: DatasetDefinition = {
  name: "patients",
  engine: "postgres",
  schema: "public",
  table: "patients",
  columns: { ...SYNTHETIC_PATIENT_COLUMNS },
  identifiers: ["patient_id"],
};

function newBroker(prefix = `tb_${uniqueToken()}_`): CredentialBroker {
  return new CredentialBroker({ postgres: { admin: server.adminConfig(), rolePrefix: prefix } });
}

async function connectAs(c: {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
}) {
  // Field by field: the broker's password is not enumerable, so a spread would drop it.
  const client = new pg.Client({
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
  });
  client.on("error", () => {});
  await client.connect();
  return client;
}

async function roleExists(role: string): Promise<boolean> {
  return ((await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role])).rowCount ?? 0) > 0;
}

/** The SQLSTATE a statement fails with, or "ok". */
async function outcome(client: pg.Client, sql: string): Promise<string> {
  try {
    await client.query(sql);
    return "ok";
  } catch (error) {
    return String((error as { code?: unknown }).code);
  }
}

describe("CredentialBroker", () => {
  it("gives a task role that reads only the allowed columns of its tables, and cannot write", async () => {
    const broker = newBroker();
    await using issued = await broker.issue(newId(), [patients], 45_000);
    if (issued.credential.kind !== "postgres") throw new Error("expected a postgres credential");
    const task = await connectAs(issued.credential);
    try {
      expect(await outcome(task, "SELECT age, sex, region, bmi, smoker FROM public.patients")).toBe("ok");
      const insufficientPrivilege = "42501";
      expect(await outcome(task, "SELECT patient_id FROM public.patients")).toBe(insufficientPrivilege);
      expect(await outcome(task, "SELECT postcode FROM public.patients")).toBe(insufficientPrivilege);
      expect(await outcome(task, "SELECT * FROM public.patients")).toBe(insufficientPrivilege);
      expect(await outcome(task, "SELECT count(*) FROM public.visits")).toBe(insufficientPrivilege);
      const readOnly = "25006";
      expect(await outcome(task, "UPDATE public.patients SET age = 1")).toBe(readOnly);
      expect(await outcome(task, "CREATE TABLE public.mine (x int)")).toBe(readOnly);
      expect(await outcome(task, "BEGIN READ WRITE; DELETE FROM public.patients; COMMIT")).toBe(
        insufficientPrivilege,
      );
      await task.query("ROLLBACK").catch(() => {});
      expect((await task.query("SHOW statement_timeout")).rows[0].statement_timeout).toBe("45s");
      const { rows } = await admin.query(
        "SELECT rolconnlimit, rolsuper, rolinherit, rolcreaterole, rolvaliduntil FROM pg_roles WHERE rolname = $1",
        [issued.role],
      );
      expect(rows[0]).toMatchObject({
        rolconnlimit: 2,
        rolsuper: false,
        rolinherit: false,
        rolcreaterole: false,
      });
      expect((rows[0].rolvaliduntil as Date).getTime()).toBeGreaterThan(Date.now() + 45_000);
      expect((rows[0].rolvaliduntil as Date).getTime()).toBeLessThan(Date.now() + 45_000 + 120_000);
    } finally {
      await task.end();
    }
  });

  it("drops the role and ends its sessions on release, and release is idempotent", async () => {
    const broker = newBroker();
    const issued = await broker.issue(newId(), [patients], 30_000);
    if (issued.credential.kind !== "postgres" || issued.role === undefined)
      throw new Error("expected a role");
    const task = await connectAs(issued.credential);
    await issued.release();
    expect(await roleExists(issued.role)).toBe(false);
    expect(await outcome(task, "SELECT age FROM public.patients")).not.toBe("ok");
    await issued.release();
    await broker.release(issued.taskId);
    await expect(connectAs(issued.credential)).rejects.toMatchObject({ code: "28P01" });
  });

  it("works as a least-privilege admin role (CREATEROLE, SELECT WITH GRANT OPTION, pg_signal_backend), not a superuser", async () => {
    // The privileges leaf.yaml's postgres.user is documented to need, nothing more: the TRE's own tables stay
    // owned by another role. DROP OWNED BY a task role needs the broker to hold that role's privileges, which
    // CREATEROLE alone does not give (PostgreSQL 15 and later).
    const user = `tb_${uniqueToken()}_broker`;
    const password = `pw_${uniqueToken()}_${uniqueToken()}`;
    await admin.query(
      `CREATE ROLE ${pg.escapeIdentifier(user)} LOGIN CREATEROLE PASSWORD ${pg.escapeLiteral(password)}`,
    );
    const columns = Object.keys(patients.columns).map(pg.escapeIdentifier).join(", ");
    await admin.query(
      `GRANT SELECT (${columns}) ON public.patients TO ${pg.escapeIdentifier(user)} WITH GRANT OPTION`,
    );
    await admin.query(`GRANT pg_signal_backend TO ${pg.escapeIdentifier(user)}`);
    const broker = new CredentialBroker({
      postgres: { admin: server.adminConfig({ user, password }), rolePrefix: `tb_${uniqueToken()}_` },
    });
    const issued = await broker.issue(newId(), [patients], 30_000);
    if (issued.credential.kind !== "postgres" || issued.role === undefined)
      throw new Error("expected a role");
    const task = await connectAs(issued.credential);
    expect(await outcome(task, "SELECT count(age) FROM public.patients")).toBe("ok");
    // Released with the task's session still open, as after a timed-out query: pg_signal_backend ends it.
    await issued.release();
    expect(await roleExists(issued.role)).toBe(false);
    await task.end().catch(() => {});
    const left = await broker.issue(newId(), [patients], 30_000);
    expect(await broker.sweep()).toEqual([left.role]);
    expect(await roleExists(left.role ?? "")).toBe(false);
  });

  it("names, at start, each grant its role lacks for the datasets registered, with the statement that gives it", async () => {
    const user = `tb_${uniqueToken()}_bare`;
    const password = `pw_${uniqueToken()}_${uniqueToken()}`;
    const quoted = pg.escapeIdentifier(user);
    await admin.query(`CREATE ROLE ${quoted} LOGIN PASSWORD ${pg.escapeLiteral(password)}`);
    const broker = new CredentialBroker({
      postgres: { admin: server.adminConfig({ user, password }), rolePrefix: `tb_${uniqueToken()}_` },
    });
    const missingTable: DatasetDefinition = { ...patients, name: "gone", table: "no_such_table" };
    const extraColumn: DatasetDefinition = {
      ...patients,
      name: "wider",
      columns: { ...patients.columns, shoe_size: "numeric" },
    };
    const bare = await broker.privilegeProblems([patients, missingTable, extraColumn]);
    const all = Object.keys(patients.columns).map(pg.escapeIdentifier).join(", ");
    expect(bare).toEqual([
      `the broker's role ${user} cannot create the tasks' roles: ALTER ROLE ${quoted} CREATEROLE`,
      `the broker's role ${user} cannot end a task role's sessions when the task ends, and the role is then left until the leaf's next start: GRANT pg_signal_backend TO ${quoted}`,
      `dataset 'patients': the broker cannot grant what tasks read: GRANT SELECT (${all}) ON "public"."patients" TO ${quoted} WITH GRANT OPTION`,
      `dataset 'gone': the database has no table "public"."no_such_table" (or the broker may not see it)`,
      `dataset 'wider': "public"."patients" has no column 'shoe_size'`,
      `dataset 'wider': the broker cannot grant what tasks read: GRANT SELECT (${all}) ON "public"."patients" TO ${quoted} WITH GRANT OPTION`,
    ]);
    // Given what it says, nothing is left to say about the datasets that exist; a file dataset needs nothing.
    await admin.query(`ALTER ROLE ${quoted} CREATEROLE`);
    await admin.query(`GRANT SELECT (${all}) ON public.patients TO ${quoted} WITH GRANT OPTION`);
    await admin.query(`GRANT pg_signal_backend TO ${quoted}`);
    expect(await broker.privilegeProblems([patients])).toEqual([]);
    const file: DatasetDefinition = {
      name: "f",
      engine: "csv",
      path: "/nonexistent.csv",
      columns: { age: "numeric" },
    };
    expect(await broker.privilegeProblems([file])).toEqual([]);
    // A superuser lacks nothing.
    expect(await newBroker().privilegeProblems([patients])).toEqual([]);
  });

  it("issues and releases credentials for many tasks at once, from two brokers sharing the cluster", async () => {
    // Grants and revokes on the same database, schema and table change the same catalog rows: unserialised, some
    // of them fail with "tuple concurrently updated" (found by test/faults.test.ts under load).
    const brokers = [newBroker(), newBroker()];
    const issued = await Promise.all(
      Array.from({ length: 16 }, (_, i) => brokers[i % 2]!.issue(newId(), [patients], 30_000)),
    );
    await Promise.all(issued.map((c) => c.release()));
    for (const c of issued) expect(await roleExists(c.role ?? "")).toBe(false);
  });

  it("sweeps roles left by a crash, and only those with its prefix", async () => {
    const prefix = `tb_${uniqueToken()}_`;
    const crashed = newBroker(prefix);
    const left = [
      await crashed.issue(newId(), [patients], 30_000),
      await crashed.issue(newId(), [patients], 30_000),
    ];
    const other = `tb_${uniqueToken()}_bystander`;
    await admin.query(`CREATE ROLE ${pg.escapeIdentifier(other)}`);
    const swept = await newBroker(prefix).sweep();
    expect(swept.sort()).toEqual(left.map((l) => l.role).sort());
    for (const l of left) expect(await roleExists(l.role ?? "")).toBe(false);
    expect(await roleExists(other)).toBe(true);
    expect(await newBroker(prefix).sweep()).toEqual([]);
    await admin.query(`DROP ROLE ${pg.escapeIdentifier(other)}`);
  });

  it("sweeps before the next task's role when told to (the database was away at start), and only once", async () => {
    const prefix = `tb_${uniqueToken()}_`;
    const left = await newBroker(prefix).issue(newId(), [patients], 30_000);
    const broker = newBroker(prefix);
    broker.sweepBeforeNextTask();
    const [first, second] = await Promise.all([
      broker.issue(newId(), [patients], 30_000),
      broker.issue(newId(), [patients], 30_000),
    ]);
    expect(await roleExists(left.role ?? "")).toBe(false);
    expect(await roleExists(first!.role ?? "")).toBe(true);
    const third = await broker.issue(newId(), [patients], 30_000);
    expect(await roleExists(second!.role ?? "")).toBe(true);
    for (const c of [first!, second!, third]) await c.release();
  });

  it("calls a database that accepts the connection but never answers unreachable, so the task is retried", async () => {
    // A hung server (stopped with SIGSTOP, or its host's disk stalled): the kernel accepts, nothing answers.
    const silent = createServer(() => {});
    await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
    const { port } = silent.address() as { port: number };
    try {
      const broker = new CredentialBroker({
        postgres: {
          admin: server.adminConfig({ port, connectionTimeoutMillis: 300 }),
          rolePrefix: "tb_hung_",
        },
      });
      const failed = broker.issue(newId(), [patients], 30_000);
      await expect(failed).rejects.toBeInstanceOf(CredentialBrokerError);
      await expect(failed).rejects.toMatchObject({ retryable: true });
      // A server that answers, refusing the login, is not worth another try.
      const refused = new CredentialBroker({
        postgres: { admin: server.adminConfig({ password: "not-the-password" }), rolePrefix: "tb_hung_" },
      });
      await expect(refused.issue(newId(), [patients], 30_000)).rejects.toMatchObject({
        retryable: false,
        code: "28P01",
      });
    } finally {
      silent.close();
    }
  });

  it("issues a task's next attempt when the role of its last attempt could not be dropped", async () => {
    // The database went away while the attempt ran, so its release failed; the role stays until the next attempt.
    const broker = newBroker();
    const taskId = newId();
    const first = await broker.issue(taskId, [patients], 30_000);
    const again = await broker.issue(taskId, [patients], 30_000);
    if (again.credential.kind !== "postgres") throw new Error("expected a PostgreSQL credential");
    expect(again.role).toBe(first.role);
    const task = await connectAs(again.credential);
    expect(await outcome(task, "SELECT count(age) FROM public.patients")).toBe("ok");
    await task.end();
    await again.release();
    expect(await roleExists(again.role ?? "")).toBe(false);
  });

  it("refuses a table that PUBLIC can read beyond the allow-list, leaving no role behind", async () => {
    const broker = newBroker();
    const taskId = newId();
    const open: DatasetDefinition = {
      ...patients,
      name: "open",
      table: "open_table",
      columns: { age: "numeric" },
    };
    const error = await broker.issue(taskId, [open], 30_000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CredentialBrokerError);
    expect((error as Error).message).toMatch(
      /could also read 'patient_id' of public\.open_table, beyond the allow-list/,
    );
    expect(await roleExists(broker.roleName(taskId))).toBe(false);
  });

  it("keeps the password out of statements, serialisations and error messages", async () => {
    const broker = newBroker();
    const issued = await broker.issue(newId(), [patients], 30_000);
    if (issued.credential.kind !== "postgres") throw new Error("expected a postgres credential");
    const password = issued.credential.password;
    expect(password.length).toBeGreaterThanOrEqual(40);
    expect(JSON.stringify(issued)).not.toContain(password);
    expect(inspect(issued, { depth: 5 })).not.toContain(password);
    expect(Object.keys(issued.credential)).not.toContain("password");
    // The server holds a SCRAM verifier, never the password.
    const { rows } = await admin.query("SELECT rolpassword FROM pg_authid WHERE rolname = $1", [issued.role]);
    expect(rows[0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(rows[0].rolpassword).not.toContain(password);
    // A run with the credential after release fails without the password in anything it carries.
    await issued.release();
    const error = await new QueryExecutor()
      .run({
        taskId: issued.taskId,
        analysis: { kind: "count", dataset: "patients" },
        datasets: [patients],
        credential: issued.credential,
        timeoutMs: 10_000,
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ExecutorFailed);
    expect((error as ExecutorFailed).message).toBe("PostgreSQL refused the task's credential");
    expect(inspect(error, { depth: 10 })).not.toContain(password);
    // A failed issue (no such table) reports the database's reason, and neither verifier nor password.
    const missing: DatasetDefinition = { ...patients, table: "no_such_table" };
    const issueError = await broker.issue(newId(), [missing], 30_000).catch((e: unknown) => e);
    expect(issueError).toBeInstanceOf(CredentialBrokerError);
    expect((issueError as Error).message).toMatch(/no_such_table.*does not exist/);
    expect(inspect(issueError, { depth: 10 })).not.toMatch(/SCRAM-SHA-256|PASSWORD/);
    expect(inspect(broker, { depth: 10 })).not.toContain(server.adminPassword);
  });

  it("gives file datasets a read-only-open credential and no role", async () => {
    const broker = new CredentialBroker();
    const file: DatasetDefinition = {
      name: "p",
      engine: "csv",
      path: "/data/p.csv",
      columns: { age: "numeric" },
    };
    await using issued = await broker.issue(newId(), [file], 1_000);
    expect(issued.credential).toEqual({ kind: "read-only-file" });
    expect(issued.role).toBeUndefined();
    await expect(broker.issue(newId(), [file, patients], 1_000)).rejects.toThrow(
      /either PostgreSQL datasets or files, not both/,
    );
    await expect(broker.issue(newId(), [patients], 1_000)).rejects.toThrow(
      /no PostgreSQL admin connection is configured/,
    );
    await expect(broker.issue("x'; DROP ROLE postgres; --", [file], 1_000)).rejects.toThrow(/not a ULID/);
  });

  it("makes verifiers PostgreSQL accepts for login", async () => {
    const role = `tb_${uniqueToken()}_manual`;
    const password = "correct horse battery staple";
    await admin.query(
      `CREATE ROLE ${pg.escapeIdentifier(role)} LOGIN PASSWORD ${pg.escapeLiteral(scramVerifier(password))}`,
    );
    try {
      const client = await connectAs({
        host: server.host,
        port: server.port,
        database: server.database,
        user: role,
        password,
      });
      await client.end();
      await expect(
        connectAs({
          host: server.host,
          port: server.port,
          database: server.database,
          user: role,
          password: "wrong",
        }),
      ).rejects.toMatchObject({ code: "28P01" });
    } finally {
      await admin.query(`DROP ROLE ${pg.escapeIdentifier(role)}`);
    }
  });
});
