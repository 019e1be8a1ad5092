/**
 * Where PostgreSQL's server binaries are: TREMESH_POSTGRES_BINDIR if set, else the newest
 * /usr/lib/postgresql/<version>/bin (Debian's layout; scripts/setup-postgres.mjs installs it).
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

export class PostgresNotFoundError extends Error {
  override readonly name = "PostgresNotFoundError";
  constructor() {
    super(
      "PostgreSQL server binaries (initdb, postgres) were not found under /usr/lib/postgresql/<version>/bin; " +
        "run `node scripts/setup-postgres.mjs` as root (installs Debian's postgresql package), " +
        "or set TREMESH_POSTGRES_BINDIR to a directory holding initdb and postgres",
    );
  }
}

/** The newest installed server's bin dir (or TREMESH_POSTGRES_BINDIR); throws PostgresNotFoundError. */
export function findPostgresBinDir(): string {
  const fromEnv = process.env.TREMESH_POSTGRES_BINDIR;
  const candidates =
    fromEnv !== undefined && fromEnv !== ""
      ? [fromEnv]
      : listVersions("/usr/lib/postgresql").map((v) => join("/usr/lib/postgresql", v, "bin"));
  const found = candidates.find((d) => existsSync(join(d, "initdb")) && existsSync(join(d, "postgres")));
  if (found === undefined) throw new PostgresNotFoundError();
  return found;
}

function listVersions(root: string): string[] {
  try {
    return readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
}
