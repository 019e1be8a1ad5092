/**
 * The throw-away PostgreSQL cluster the database tests stand on: password auth everywhere, loopback
 * only, and a stop that leaves neither a process nor a directory behind.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { findPostgresBinDir, PostgresNotFoundError, startPostgres } from "./harness/postgres.js";

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("startPostgres", () => {
  const saved = process.env.TREMESH_POSTGRES_BINDIR;
  afterEach(() => {
    if (saved === undefined) delete process.env.TREMESH_POSTGRES_BINDIR;
    else process.env.TREMESH_POSTGRES_BINDIR = saved;
  });

  it("says what to do when the server binaries are missing", async () => {
    process.env.TREMESH_POSTGRES_BINDIR = "/nonexistent/postgresql/bin";
    expect(() => findPostgresBinDir()).toThrow(PostgresNotFoundError);
    await expect(startPostgres()).rejects.toThrow(/setup-postgres\.mjs/);
  });

  it("starts a cluster that wants a password on TCP and on its socket, and stop removes every trace", async () => {
    const server = await startPostgres({ database: "harness" });
    try {
      expect(server.host).toBe("127.0.0.1");
      const admin = await server.connectAdmin();
      const { rows } = await admin.query(
        "SELECT current_database() AS db, current_setting('listen_addresses') AS listen",
      );
      expect(rows[0]).toEqual({ db: "harness", listen: "127.0.0.1" });
      const hba = await admin.query("SELECT DISTINCT auth_method FROM pg_hba_file_rules");
      expect(hba.rows.map((r) => r.auth_method)).toEqual(["scram-sha-256"]);
      for (const host of [server.host, server.socketDir]) {
        const wrong = new pg.Client(server.adminConfig({ host, password: "wrong" }));
        await expect(wrong.connect()).rejects.toMatchObject({ code: "28P01" });
        const right = new pg.Client(server.adminConfig({ host }));
        await right.connect();
        await right.end();
      }
    } finally {
      await server.stop();
    }
    expect(isRunning(server.pid)).toBe(false);
    expect(existsSync(join(server.dir))).toBe(false);
    await server.stop(); // idempotent
  });
});
