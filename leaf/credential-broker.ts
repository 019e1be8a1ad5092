/**
 * The credential broker: the only part of the agent that holds the TRE's database admin connection.
 * For each PostgreSQL task it makes a throw-away LOGIN role that can read exactly the allowed columns
 * of the task's tables (column-level grants, so the database itself enforces the allow-list and an
 * identifier column stays unreadable whatever SQL reaches it), hands the executor that role's
 * credential, and drops the role when the task ends. `sweep()` at start-up drops roles a crash left.
 *
 * - Role names are the prefix plus the task id (a ULID) in lower case; every name in a statement is
 *   quoted with pg's escapeIdentifier, and nothing researcher-supplied reaches a statement except the
 *   dataset allow-list, which the TRE wrote.
 * - The password is sent to the server only as a SCRAM-SHA-256 verifier computed here, so it appears
 *   in no statement text, server log or error; it lives only in the returned credential, where it is
 *   not enumerable (logging the object by accident does not print it).
 * - The role has VALID UNTIL (now + timeout + grace), a small CONNECTION LIMIT, NOINHERIT, and
 *   role-level statement_timeout and read-only defaults. After granting, the broker checks what the
 *   role can actually read: if a PUBLIC grant opens any column beyond the allow-list, it refuses.
 * - File datasets (DuckDB, CSV, Parquet) need no secret: their credential says "open read-only".
 *
 * The admin role needs CREATEROLE, SELECT WITH GRANT OPTION on the allowed columns (or ownership of
 * the tables), and pg_signal_backend (to end a task role's sessions on release). Task roles get
 * CONNECT on one database, the admin connection's: the TRE's datasets live there.
 *
 * @example
 * const broker = new CredentialBroker({ postgres: { admin: { host, port, database, user, password } } });
 * await broker.sweep();
 * await using issued = await broker.issue(taskId, datasets, 60_000);
 * await executor.run({ taskId, analysis, datasets, credential: issued.credential, timeoutMs: 60_000 });
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import pg from "pg";
import { randomPassword } from "../common/index.js";
import {
  type DatasetDefinition,
  type ExecutorCredential,
  isTransientDatabaseCode,
  type PostgresCredential,
  type PostgresDataset,
} from "../executors/index.js";
import { isTaskId } from "../protocol/index.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";

export interface PostgresBrokerOptions {
  /** The TRE's admin connection. Only the broker holds it; it is never logged or returned. */
  admin: pg.ClientConfig;
  /** Host (or unix socket directory) the executor connects to. Default: the admin connection's host. */
  executorHost?: string;
  /** Port the executor connects to. Default: the admin connection's port, else 5432. */
  executorPort?: number;
  /**
   * Prefix of every task role. `sweep()` drops every role carrying it, so agents sharing a cluster
   * need different prefixes. Lower-case letters, digits and _, at most 30 characters. Default "tremesh_task_".
   */
  rolePrefix?: string;
  /** Logins a task role may hold at once. Default 2: the executor's connection and one reconnect. */
  connectionLimit?: number;
  /** How long past the task's timeout the role may still log in (VALID UNTIL), for clock skew. Default 60 000 ms. */
  validityGraceMs?: number;
}

/** A credential handed to an executor, and the way to take it back. */
export interface IssuedCredential extends AsyncDisposable {
  readonly taskId: string;
  readonly credential: ExecutorCredential;
  /** The task's database role; undefined for file datasets. Safe to log. */
  readonly role: string | undefined;
  /** Ends the task's access: closes its sessions, revokes its grants, drops its role. Idempotent. */
  release(): Promise<void>;
}

export class CredentialBrokerError extends Error {
  override readonly name = "CredentialBrokerError";
  /** Whether trying again later may succeed: the database could not be reached, not a mistake in the config. */
  readonly retryable: boolean;
  /** What the database or the socket said, when it said a code: a SQLSTATE ("28P01") or a Node code ("ECONNREFUSED"). */
  readonly code: string | undefined;
  constructor(
    message: string,
    readonly taskId: string | undefined,
    options?: ErrorOptions & { retryable?: boolean; code?: string },
  ) {
    super(message, options);
    this.retryable = options?.retryable ?? false;
    this.code = options?.code;
  }
}

const ROLE_PREFIX = /^[a-z_][a-z0-9_]{0,29}$/;

type ResolvedOptions = Required<PostgresBrokerOptions>;

export class CredentialBroker {
  readonly #pg: ResolvedOptions | undefined;
  /** Set by `sweepBeforeNextTask()`: the next PostgreSQL task sweeps before making its role, until a sweep succeeds. */
  #sweepPending = false;
  #sweeping: Promise<unknown> | undefined;

  constructor(options: { postgres?: PostgresBrokerOptions } = {}) {
    const o = options.postgres;
    if (o === undefined) return;
    const rolePrefix = o.rolePrefix ?? "tremesh_task_";
    if (!ROLE_PREFIX.test(rolePrefix))
      throw new CredentialBrokerError(
        "rolePrefix must be lower-case letters, digits and _ (at most 30)",
        undefined,
      );
    this.#pg = {
      admin: o.admin,
      executorHost: o.executorHost ?? o.admin.host ?? "localhost",
      executorPort: o.executorPort ?? o.admin.port ?? LEAF_DEFAULTS.postgresPort,
      rolePrefix,
      connectionLimit: o.connectionLimit ?? 2,
      validityGraceMs: o.validityGraceMs ?? 60_000,
    };
  }

  /** The role a task gets (whether or not it exists). */
  roleName(taskId: string): string {
    return `${this.#requirePg(taskId).rolePrefix}${taskId.toLowerCase()}`;
  }

  /**
   * Makes the task's credential; throws CredentialBrokerError, leaving no role behind. `datasets` are
   * the TRE's definitions of what the task reads: all PostgreSQL, or all files. `timeoutMs` is the
   * task's budget: the role's statement_timeout and (plus grace) its VALID UNTIL.
   */
  async issue(
    taskId: string,
    datasets: readonly DatasetDefinition[],
    timeoutMs: number,
  ): Promise<IssuedCredential> {
    if (!isTaskId(taskId)) throw new CredentialBrokerError("the task id is not a ULID", undefined);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0)
      throw new CredentialBrokerError("timeoutMs must be a positive whole number", taskId);
    const tables = datasets.filter((d): d is PostgresDataset => d.engine === "postgres");
    if (datasets.length === 0) throw new CredentialBrokerError("the task names no dataset", taskId);
    if (tables.length === 0) {
      return issued(taskId, { kind: "read-only-file" }, undefined, async () => {});
    }
    if (tables.length !== datasets.length)
      throw new CredentialBrokerError("a task reads either PostgreSQL datasets or files, not both", taskId);
    const o = this.#requirePg(taskId);
    // The database was away when the leaf started: what a crash left is dropped before this task's role is made.
    if (this.#sweepPending) {
      this.#sweeping ??= this.sweep().finally(() => {
        this.#sweeping = undefined;
      });
      await this.#sweeping;
    }
    const role = this.roleName(taskId);
    const password = randomPassword();
    const database = await this.#admin(taskId, async (admin) => {
      // The role an earlier attempt of this task made and could not drop (the database went away mid-task).
      await dropRole(admin, role);
      await admin.query("BEGIN");
      try {
        await lockGrants(admin);
        const db = await createRole(admin, role, scramVerifier(password), {
          connectionLimit: o.connectionLimit,
          validUntil: new Date(Date.now() + timeoutMs + o.validityGraceMs),
          statementTimeoutMs: timeoutMs,
        });
        for (const d of tables) await grantColumns(admin, role, d);
        for (const d of tables) await verifyReadable(admin, role, d);
        await admin.query("COMMIT");
        return db;
      } catch (error) {
        await admin.query("ROLLBACK").catch(() => {});
        throw error;
      }
    });
    const credential: PostgresCredential = {
      kind: "postgres",
      host: o.executorHost,
      port: o.executorPort,
      database,
      user: role,
      password: "",
    };
    Object.defineProperty(credential, "password", { value: password, enumerable: false });
    return issued(taskId, Object.freeze(credential), role, () => this.release(taskId));
  }

  /** Drops the task's role (after ending its sessions and revoking its grants); a no-op if it is gone. */
  async release(taskId: string): Promise<void> {
    if (!isTaskId(taskId)) throw new CredentialBrokerError("the task id is not a ULID", undefined);
    const role = this.roleName(taskId);
    await this.#admin(taskId, (admin) => dropRole(admin, role));
  }

  /**
   * What the broker's own role lacks to issue credentials for the PostgreSQL datasets among `datasets`, each in words
   * for the TRE's operator with the grant that mends it; none when it lacks nothing (a superuser lacks nothing).
   * Asked when the leaf starts, so that a missing grant shows then, not as every task's `executor_error`.
   */
  async privilegeProblems(datasets: readonly DatasetDefinition[]): Promise<string[]> {
    const tables = datasets.filter((d): d is PostgresDataset => d.engine === "postgres");
    if (tables.length === 0 || this.#pg === undefined) return [];
    return this.#admin(undefined, async (admin) => {
      const problems: string[] = [];
      const { rows: me } = await admin.query<{
        name: string;
        db: string;
        can: boolean;
        signal: boolean;
        connect: boolean;
      }>(
        "SELECT current_user AS name, current_database() AS db, rolsuper OR rolcreaterole AS can, " +
          "rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER') AS signal, " +
          "has_database_privilege('public', current_database(), 'CONNECT') OR " +
          "has_database_privilege(current_user, current_database(), 'CONNECT WITH GRANT OPTION') AS connect " +
          "FROM pg_roles WHERE rolname = current_user",
      );
      const { name, db, can, signal, connect } = me[0] ?? {
        name: "?",
        db: "?",
        can: false,
        signal: false,
        connect: false,
      };
      const broker = q(name);
      if (!can)
        problems.push(
          `the broker's role ${name} cannot create the tasks' roles: ALTER ROLE ${broker} CREATEROLE`,
        );
      // Without it, a task role with a session still open at the task's end (a timed-out query) cannot be dropped.
      if (!signal)
        problems.push(
          `the broker's role ${name} cannot end a task role's sessions when the task ends, and the role is then left ` +
            `until the leaf's next start: GRANT pg_signal_backend TO ${broker}`,
        );
      if (!connect)
        problems.push(
          `a task's role could not connect to database ${db}: GRANT CONNECT ON DATABASE ${q(db)} TO ${broker} WITH GRANT OPTION`,
        );
      for (const d of tables) problems.push(...(await datasetProblems(admin, d, broker)));
      return problems;
    });
  }

  /**
   * For a start whose `sweep()` failed (the database away): the next PostgreSQL task's `issue` sweeps first, every
   * other task waiting for that sweep, and so on until one succeeds. No role of this broker exists before then.
   */
  sweepBeforeNextTask(): void {
    this.#sweepPending = true;
  }

  /** Drops every role with the prefix (left by a crash); returns their names. Run it before the first task. */
  async sweep(): Promise<string[]> {
    const o = this.#requirePg(undefined);
    return this.#admin(undefined, async (admin) => {
      const { rows } = await admin.query<{ rolname: string }>(
        "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY rolname",
        [o.rolePrefix],
      );
      for (const { rolname } of rows) await dropRole(admin, rolname);
      this.#sweepPending = false;
      return rows.map((r) => r.rolname);
    });
  }

  async #admin<T>(taskId: string | undefined, work: (admin: pg.Client) => Promise<T>): Promise<T> {
    const admin = new pg.Client({ connectionTimeoutMillis: 10_000, ...this.#requirePg(taskId).admin });
    admin.on("error", () => {}); // a dropped admin connection surfaces as the failed query's error
    let connected = false;
    try {
      await admin.connect();
      connected = true;
      return await work(admin);
    } catch (error) {
      if (error instanceof CredentialBrokerError) throw error;
      const code = (error as { code?: unknown }).code;
      const what = error instanceof Error ? error.message : String(error);
      // A login the server did not answer (a hung server: pg's connect timeout, which carries no code) is the database
      // away, as a refused connection is; one it answered with a SQLSTATE (a wrong password, no such database) is not.
      const unanswered = !connected && typeof code !== "string";
      throw new CredentialBrokerError(
        `the credential broker's database work failed${taskId ? ` for task ${taskId}` : ""}: ${what}${typeof code === "string" ? ` (${code})` : ""}`,
        taskId,
        {
          cause: error,
          retryable: unanswered || isTransientDatabaseCode(typeof code === "string" ? code : undefined),
          ...(typeof code === "string" ? { code } : {}),
        },
      );
    } finally {
      await admin.end().catch(() => {});
    }
  }

  #requirePg(taskId: string | undefined): ResolvedOptions {
    if (this.#pg === undefined)
      throw new CredentialBrokerError("no PostgreSQL admin connection is configured", taskId);
    return this.#pg;
  }
}

function issued(
  taskId: string,
  credential: ExecutorCredential,
  role: string | undefined,
  drop: () => Promise<void>,
): IssuedCredential {
  let releasing: Promise<void> | undefined;
  const release = () => {
    releasing ??= drop();
    return releasing;
  };
  return { taskId, credential, role, release, [Symbol.asyncDispose]: release };
}

const q = pg.escapeIdentifier;

/**
 * Every broker's grants and revokes on one cluster take turns. Task roles of the same database, schema and table
 * change the same catalog rows (their ACLs): two transactions doing so at once make one fail with "tuple
 * concurrently updated" (XX000), which under load failed tasks at random. A transaction-scoped advisory lock (one
 * key for every tremesh broker, whatever its prefix) serialises them; the work it covers takes milliseconds. No
 * lock in the transaction is waited for longer than `GRANTS_LOCK_TIMEOUT`: a task then fails, the others go on.
 */
const GRANTS_LOCK_KEY = "64783834721"; // "tremesh" read as a base-36 number
const GRANTS_LOCK_TIMEOUT = "10s";

async function lockGrants(admin: pg.Client): Promise<void> {
  await admin.query(`SET LOCAL lock_timeout = '${GRANTS_LOCK_TIMEOUT}'`);
  await admin.query("SELECT pg_advisory_xact_lock($1::int8)", [GRANTS_LOCK_KEY]);
}

async function createRole(
  admin: pg.Client,
  role: string,
  verifier: string,
  o: { connectionLimit: number; validUntil: Date; statementTimeoutMs: number },
): Promise<string> {
  const { rows } = await admin.query<{ db: string }>("SELECT current_database() AS db");
  const database = rows[0]?.db ?? "";
  await admin.query(
    `CREATE ROLE ${q(role)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS ` +
      `CONNECTION LIMIT ${Math.trunc(o.connectionLimit)} PASSWORD ${pg.escapeLiteral(verifier)} ` +
      `VALID UNTIL ${pg.escapeLiteral(o.validUntil.toISOString())}`,
  );
  await admin.query(`ALTER ROLE ${q(role)} SET statement_timeout = ${Math.trunc(o.statementTimeoutMs)}`);
  await admin.query(`ALTER ROLE ${q(role)} SET default_transaction_read_only = on`);
  await admin.query(`GRANT CONNECT ON DATABASE ${q(database)} TO ${q(role)}`);
  return database;
}

async function grantColumns(admin: pg.Client, role: string, d: PostgresDataset): Promise<void> {
  const columns = Object.keys(d.columns).map(q).join(", ");
  await admin.query(`GRANT USAGE ON SCHEMA ${q(d.schema)} TO ${q(role)}`);
  await admin.query(`GRANT SELECT (${columns}) ON TABLE ${q(d.schema)}.${q(d.table)} TO ${q(role)}`);
}

/**
 * What the broker (`broker`, quoted) lacks to give a task's role dataset `d`: its table, USAGE of its schema (the
 * broker's to grant, or PUBLIC's already), and SELECT WITH GRANT OPTION on each allowed column.
 */
async function datasetProblems(admin: pg.Client, d: PostgresDataset, broker: string): Promise<string[]> {
  const where = `dataset '${d.name}'`;
  const table = `${q(d.schema)}.${q(d.table)}`;
  const { rows: found } = await admin.query<{ table: string | null; usage: boolean | null }>(
    "SELECT to_regclass(format('%I.%I', $1::text, $2::text))::text AS table, " +
      "(SELECT has_schema_privilege('public', n.oid, 'USAGE') OR " +
      "has_schema_privilege(current_user, n.oid, 'USAGE WITH GRANT OPTION') " +
      "FROM pg_namespace n WHERE n.nspname = $1) AS usage",
    [d.schema, d.table],
  );
  if (!found[0]?.table)
    return [`${where}: the database has no table ${table} (or the broker may not see it)`];
  const problems: string[] = [];
  if (!found[0].usage)
    problems.push(
      `${where}: a task's role could not use schema ${d.schema}: GRANT USAGE ON SCHEMA ${q(d.schema)} TO ${broker} WITH GRANT OPTION`,
    );
  const { rows } = await admin.query<{ attname: string; ok: boolean }>(
    "SELECT a.attname, has_column_privilege(current_user, a.attrelid, a.attnum, 'SELECT WITH GRANT OPTION') AS ok " +
      "FROM pg_attribute a WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass " +
      "AND a.attnum > 0 AND NOT a.attisdropped",
    [d.schema, d.table],
  );
  const grantable = new Map(rows.map((r) => [r.attname, r.ok]));
  const columns = Object.keys(d.columns);
  const absent = columns.filter((c) => !grantable.has(c));
  if (absent.length > 0)
    problems.push(`${where}: ${table} has no column ${absent.map((c) => `'${c}'`).join(", ")}`);
  const ungranted = columns.filter((c) => grantable.get(c) === false);
  if (ungranted.length > 0)
    problems.push(
      `${where}: the broker cannot grant what tasks read: GRANT SELECT (${ungranted.map(q).join(", ")}) ON ${table} TO ${broker} WITH GRANT OPTION`,
    );
  return problems;
}

/** What the role can really read of the table (own grants plus PUBLIC's) must be exactly the allow-list. */
async function verifyReadable(admin: pg.Client, role: string, d: PostgresDataset): Promise<void> {
  const { rows } = await admin.query<{ attname: string }>(
    "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass " +
      "AND a.attnum > 0 AND NOT a.attisdropped AND has_column_privilege($3, a.attrelid, a.attnum, 'SELECT')",
    [d.schema, d.table, role],
  );
  const readable = new Set(rows.map((r) => r.attname));
  const extra = [...readable].filter((c) => !Object.hasOwn(d.columns, c));
  if (extra.length > 0) {
    throw new CredentialBrokerError(
      `dataset '${d.name}': a task role could also read ${extra.map((c) => `'${c}'`).join(", ")} of ` +
        `${d.schema}.${d.table}, beyond the allow-list (a grant to PUBLIC?); revoke it`,
      undefined,
    );
  }
}

/**
 * Revokes the role's column grants one table at a time. DROP OWNED BY would revoke them as a table-wide REVOKE ALL,
 * which an admin role holding grant options on the allowed columns only (not on the table) is refused.
 */
async function revokeColumns(admin: pg.Client, role: string): Promise<void> {
  const { rows } = await admin.query<{ schema: string; table: string; columns: string[] }>(
    "SELECT n.nspname AS schema, c.relname AS table, array_agg(a.attname::text) AS columns " +
      "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace, " +
      "aclexplode(a.attacl) x WHERE a.attnum > 0 AND x.grantee = (SELECT oid FROM pg_roles WHERE rolname = $1) " +
      "GROUP BY n.nspname, c.relname",
    [role],
  );
  for (const r of rows)
    await admin.query(
      `REVOKE SELECT (${r.columns.map(q).join(", ")}) ON TABLE ${q(r.schema)}.${q(r.table)} FROM ${q(role)}`,
    );
}

async function dropRole(admin: pg.Client, role: string): Promise<void> {
  const { rowCount } = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
  if (rowCount === 0) return;
  await admin.query(`ALTER ROLE ${q(role)} NOLOGIN`);
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role]);
  // Revoking the grants changes the same catalog rows as other tasks' grants: in turn with them.
  await admin.query("BEGIN");
  try {
    await lockGrants(admin);
    await revokeColumns(admin, role);
    // DROP OWNED BY needs the privileges of the role dropped. A superuser has them; an admin role with only
    // CREATEROLE (the least privilege documented) does not, until it makes itself a member, which CREATEROLE allows.
    await admin.query(`GRANT ${q(role)} TO CURRENT_USER`);
    await admin.query(`DROP OWNED BY ${q(role)}`);
    await admin.query(`DROP ROLE ${q(role)}`);
    await admin.query("COMMIT");
  } catch (error) {
    await admin.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677, as libpq's
 * PQencryptPasswordConn makes it). The password is ASCII, so SASLprep leaves it unchanged.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, "sha256");
  const clientKey = createHmac("sha256", salted).update("Client Key").digest();
  const storedKey = createHash("sha256").update(clientKey).digest("base64");
  const serverKey = createHmac("sha256", salted).update("Server Key").digest("base64");
  return `SCRAM-SHA-256$${iterations}:${salt.toString("base64")}$${storedKey}:${serverKey}`;
}
