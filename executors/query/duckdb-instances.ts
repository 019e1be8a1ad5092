/**
 * DuckDB instances kept open between the query executor's runs: one per file dataset, each run on a connection
 * of its own. Opening an instance (its catalog, its worker threads, a CSV view's sniffing) costs about ten times
 * what a count on an open one does, so a TRE answering many small queries opens each dataset once.
 *
 * - An instance is locked down before any query runs on it (`openDuckDb`): a database file opens with
 *   access_mode READ_ONLY and external access disabled, so a query can neither write nor read any other file; a
 *   CSV or Parquet file is read through a view in an in-memory instance limited to that one file (allowed_paths),
 *   external access disabled and the configuration locked before the view exists. Extension auto-install and
 *   auto-load are off: a TRE has no network, and nothing is fetched. A run cannot widen what a later one reads.
 * - The dataset's file is looked at (device, inode, size, modification time) before each run: a file the TRE has
 *   replaced or rewritten gets a fresh instance, the old one closing once its last run ends.
 * - An instance no run uses is closed after `keepOpenMs`. A DuckDB database file is locked while open, so the
 *   TRE's own loader, opening it to write, gets it at most that long after the last run ends.
 * - A run that failed leaves its instance to be closed rather than reused: nothing a failure might have left
 *   behind reaches the next run.
 * - A run that ended well leaves its connection, and the statements it prepared, to a later run: the executor sends
 *   the same few SQL texts with different values, and preparing one costs more than a small count runs.
 */
import { statSync } from "node:fs";
import { type DuckDBConnection, DuckDBInstance, type DuckDBPreparedStatement } from "@duckdb/node-api";
import type { CsvDataset, DuckDbDataset, ParquetDataset } from "./dataset.js";
import { FILE_VIEW, quoteIdent, quoteLiteral } from "./sql-text.js";

export type FileDataset = DuckDbDataset | CsvDataset | ParquetDataset;

export interface DuckDbEngineOptions {
  /** Worker threads for this instance. Default: DuckDB's own choice (one per core). */
  threads?: number;
  /** DuckDB memory_limit for this instance, e.g. "2GB". Default: DuckDB's (80% of RAM). */
  memoryLimit?: string;
}

const NO_EXTENSIONS = { autoinstall_known_extensions: "false", autoload_known_extensions: "false" };

/** Opens the dataset's instance, read-only and locked down before anything else runs on it. */
export async function openDuckDb(
  dataset: FileDataset,
  options: DuckDbEngineOptions,
): Promise<DuckDBInstance> {
  const limits: Record<string, string> = { ...NO_EXTENSIONS };
  if (options.threads !== undefined) limits.threads = String(options.threads);
  if (options.memoryLimit !== undefined) limits.memory_limit = options.memoryLimit;
  if (dataset.engine === "duckdb") {
    return DuckDBInstance.create(dataset.path, {
      ...limits,
      access_mode: "READ_ONLY",
      enable_external_access: "false",
      lock_configuration: "true",
    });
  }
  const instance = await DuckDBInstance.create(":memory:", limits);
  try {
    const c = await instance.connect();
    try {
      const path = quoteLiteral(dataset.path);
      await c.run(`SET allowed_paths = [${path}]`);
      await c.run("SET enable_external_access = false");
      await c.run("SET lock_configuration = true");
      const reader = dataset.engine === "csv" ? "read_csv" : "read_parquet";
      // A view of the in-memory database (not a connection's temporary one): every run's connection sees it.
      await c.run(`CREATE VIEW ${quoteIdent(FILE_VIEW)} AS SELECT * FROM ${reader}(${path})`);
    } finally {
      c.closeSync();
    }
    return instance;
  } catch (error) {
    instance.closeSync();
    throw error;
  }
}

/** How long an unused instance stays open, in ms. */
export const DUCKDB_KEEP_OPEN_MS = 2_000;

export interface DuckDbInstancesOptions extends DuckDbEngineOptions {
  /** Close an instance this long after its last run ends, in ms. 0 closes it at once. Default 2 000. */
  keepOpenMs?: number;
}

/** Connections an instance keeps for later runs, at most; more runs at once open (and close) their own. */
const KEPT_CONNECTIONS = 4;
/** Statements a kept connection keeps prepared, at most; the one unused longest goes first. */
const KEPT_STATEMENTS = 32;

/** A connection kept between runs, with the statements its runs prepared, by SQL text, least recently used first. */
interface KeptConnection {
  readonly connection: DuckDBConnection;
  readonly statements: Map<string, DuckDBPreparedStatement>;
}

/** A run's connection, its alone while the run lasts; `release` it once, when the run ends. */
export interface DuckDbLease {
  readonly connection: DuckDBConnection;
  /** `sql` prepared on this connection: kept with it, so a later run of the same text binds its own values to it. */
  prepare(sql: string): Promise<DuckDBPreparedStatement>;
  /**
   * The table's column types as a run on this instance read them: an instance is read-only and opened on the file
   * as it was, so they hold for every run on it (a changed file gets a new instance).
   */
  readonly columnTypes: Map<string, Map<string, string>>;
  /** Ends the run: its connection is kept for the next one, or, when `failed`, closed with its instance. */
  release(failed: boolean): void;
}

interface Held {
  readonly key: string;
  readonly file: string;
  readonly instance: Promise<DuckDBInstance>;
  runs: number;
  retired: boolean;
  idle: NodeJS.Timeout | undefined;
  readonly columnTypes: Map<string, Map<string, string>>;
  /** Connections no run holds now, kept for the next ones. */
  readonly kept: KeptConnection[];
}

export class DuckDbInstances {
  readonly #held = new Map<string, Held>();
  readonly #keepOpenMs: number;
  #closed = false;

  constructor(readonly options: DuckDbInstancesOptions = {}) {
    this.#keepOpenMs = options.keepOpenMs ?? DUCKDB_KEEP_OPEN_MS;
  }

  /** A connection of its own on the dataset's instance, opening one if none is open for the file as it is now. */
  async connect(dataset: FileDataset): Promise<DuckDbLease> {
    const key = `${dataset.engine}\0${dataset.path}`;
    const file = fileIdentity(dataset.path);
    let held = this.#held.get(key);
    if (held && held.file !== file) {
      this.#retire(held);
      held = undefined;
    }
    if (!held) {
      const opening: Held = {
        key,
        file,
        instance: openDuckDb(dataset, this.options),
        runs: 0,
        retired: false,
        idle: undefined,
        columnTypes: new Map(),
        kept: [],
      };
      this.#held.set(key, opening);
      held = opening;
    }
    const h = held;
    clearTimeout(h.idle);
    h.runs++;
    let kept = h.kept.pop();
    if (!kept) {
      try {
        kept = { connection: await (await h.instance).connect(), statements: new Map() };
      } catch (error) {
        h.runs--;
        this.#retire(h); // an instance that did not open (the file locked by its loader…) is tried afresh next time
        throw error;
      }
    }
    const run = kept;
    let released = false;
    return {
      connection: run.connection,
      columnTypes: h.columnTypes,
      prepare: (sql) => prepareKept(run, sql),
      release: (failed) => {
        if (released) return;
        released = true;
        h.runs--;
        if (failed || h.retired || this.#closed || h.kept.length >= KEPT_CONNECTIONS) closeKept(run);
        else h.kept.push(run);
        if (failed) this.#retire(h);
        else this.#maybeClose(h);
      },
    };
  }

  /** Closes every instance no run uses now; the rest close as their runs end. Later runs open their own. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#held.values()].map((h) => this.#retire(h)));
  }

  /** Takes the instance out of use: closed now if no run holds it, else when its last run ends. */
  #retire(h: Held): Promise<void> {
    h.retired = true;
    if (this.#held.get(h.key) === h) this.#held.delete(h.key);
    return this.#maybeClose(h);
  }

  #maybeClose(h: Held): Promise<void> {
    if (h.runs > 0) return Promise.resolve();
    clearTimeout(h.idle);
    if (h.retired || this.#keepOpenMs === 0 || this.#closed) {
      if (this.#held.get(h.key) === h) this.#held.delete(h.key);
      for (const kept of h.kept.splice(0)) closeKept(kept);
      return closeInstance(h.instance);
    }
    h.idle = setTimeout(() => void this.#retire(h), this.#keepOpenMs);
    h.idle.unref();
    return Promise.resolve();
  }
}

/** The statement for `sql` on a kept connection, prepared once: the most recently used kept, the oldest let go. */
async function prepareKept(kept: KeptConnection, sql: string): Promise<DuckDBPreparedStatement> {
  let statement = kept.statements.get(sql);
  if (statement) {
    kept.statements.delete(sql);
  } else {
    statement = await kept.connection.prepare(sql);
    const [oldest] = kept.statements;
    if (oldest && kept.statements.size >= KEPT_STATEMENTS) {
      kept.statements.delete(oldest[0]);
      oldest[1].destroySync();
    }
  }
  kept.statements.set(sql, statement);
  return statement;
}

function closeKept(kept: KeptConnection): void {
  try {
    for (const statement of kept.statements.values()) statement.destroySync();
    kept.statements.clear();
    kept.connection.closeSync();
  } catch {
    // Closing is best effort: the run's outcome is already decided.
  }
}

async function closeInstance(instance: Promise<DuckDBInstance>): Promise<void> {
  try {
    (await instance).closeSync();
  } catch {
    // It never opened, or is closed already.
  }
}

/**
 * What tells a replaced or rewritten file from the one an instance opened; a missing file fails the open later.
 * A synchronous stat: a few microseconds on the TRE's own disk, where the promise form costs ten times that in
 * thread-pool hand-offs on every run (5 % of a busy agent process's main thread).
 */
function fileIdentity(path: string): string {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}`;
  } catch {
    return "missing";
  }
}
