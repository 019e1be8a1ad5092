/**
 * Operator mode's per-TRE machinery behind the hub node: TREs join and leave while the hub runs (the registry
 * says who is a member), so each one's operations connection, streams and stale-source watch come and go on
 * their own, and a TRE that cannot be set up yet is retried without holding up the hub or the other TREs.
 */
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection, type TlsOptions } from "@nats-io/transport-node";
import {
  asError,
  credsFileAuthenticator,
  type PeerState,
  readCredsFile,
  SERVICE_CONNECTION,
  SourceRestarts,
} from "../common/index.js";
import { streams } from "../protocol/index.js";
import { ensureTreStreams } from "./streams.js";
import type { TreDirectory, TreMember } from "./tre-directory.js";

/** What the node does about member TREs in operator mode. */
export type HubTreEvent =
  /** The TRE's streams exist and the node manages them (its operations connection is up). */
  | { type: "added"; tre: string }
  /** The TRE left (revoked or deleted): its operations connection is closed and its streams no longer watched. */
  | { type: "removed"; tre: string }
  /**
   * The TRE's registry entry or operations creds could not be used, or (no `tre`) the FED view could not be
   * brought up to date; retried on the next change or shortly.
   */
  | { type: "error"; tre?: string; error: Error };

/**
 * The stale-source watch over the TRE results streams (see source-restarts.ts), for a set of TREs that changes
 * while it runs. A TRE's leaf is the far side of its results stream's source: `peer` says whether it is there
 * (its heartbeats), so that a source is never restarted while no leaf can answer.
 */
export class ResultsSourceWatch {
  readonly #targets = new Map<string, JetStreamManager>();
  readonly #timer: NodeJS.Timeout;
  readonly #restarts: SourceRestarts;

  /**
   * @param peer The TRE's leaf as the far side of its results source (`LivenessTracker.peer`).
   * @param leader On a clustered hub, this node's server name: it restarts the sources of the streams it leads.
   */
  constructor(
    intervalMs: number,
    private readonly onResumed: (stream: string, sources: string[]) => void,
    private readonly peer: (tre: string) => Promise<PeerState>,
    leader?: string,
  ) {
    this.#restarts = new SourceRestarts(leader === undefined ? {} : { leader });
    this.#timer = setInterval(() => {
      for (const tre of this.#targets.keys()) this.checkNow(tre);
    }, intervalMs);
  }

  /**
   * Checks one TRE's results stream at once: when its leaf has just come up (its first heartbeat), a source that
   * failed while no leaf was there restarts now rather than at the next round.
   */
  checkNow(tre: string): void {
    const jsm = this.#targets.get(tre);
    if (!jsm) return;
    const stream = streams.results(tre);
    this.#restarts
      .check(jsm, stream, () => this.peer(tre))
      .then((sources) => {
        if (sources.length > 0) this.onResumed(stream, sources);
      })
      .catch(() => undefined); // the next round tries again
  }

  /** Watches `tre`'s results stream, which its caller has just ensured (sources and all). */
  set(tre: string, jsm: JetStreamManager): void {
    this.#targets.set(tre, jsm);
    this.#restarts.note(streams.results(tre));
  }

  delete(tre: string): void {
    this.#targets.delete(tre);
    this.#restarts.forget(streams.results(tre));
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#targets.clear();
  }
}

export interface TreOperationsOptions {
  servers: string;
  /** The hub's TLS, as its own processes connect to it (`besideServerTlsOptions`); absent without TLS. */
  tls?: TlsOptions;
  credsDir: string;
  directory: TreDirectory;
  watch: ResultsSourceWatch;
  retryIntervalMs: number;
  /** Copies of each TRE stream (hub.yaml `replicas`). */
  replicas: number;
  /** How long each TASKS stream keeps a task (hub.yaml `tasksMaxAgeMs`). */
  tasksMaxAgeMs: number;
  emit: (event: HubTreEvent) => void;
  /** Brings the FED view to the directory (HubServices.syncTres); called after every change. */
  synchronise: () => Promise<unknown>;
}

interface Operations {
  nc: NatsConnection;
  jsm: JetStreamManager;
  account: string;
}

/**
 * Operator mode: one operations connection per member TRE (its account's `treOpsPermissions` user), kept in step
 * with the directory. Passes run one at a time; a TRE that could not be set up is retried on the next change or
 * after `retryIntervalMs`, and never stops the hub.
 */
export class TreOperations {
  readonly #open = new Map<string, Operations>();
  /** The last problem reported per TRE, so a retry that fails the same way stays quiet. */
  readonly #problems = new Map<string, string>();
  #pass: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(private readonly o: TreOperationsOptions) {}

  managed(): string[] {
    return [...this.#open.keys()].sort();
  }

  /** The JetStream manager of `tre`'s account while its operations connection is up (to read its limits). */
  jetstream(tre: string): JetStreamManager | undefined {
    return this.#open.get(tre)?.jsm;
  }

  /** Runs a pass after any pass under way; resolves when it is done. Never rejects. */
  reconcile(): Promise<void> {
    // A pass reports its own failures as events; one that throws anyway (a throwing onEvent) ends quietly.
    const pass = () => (this.#stopped ? Promise.resolve() : this.#reconcile().catch(() => undefined));
    this.#pass = this.#pass.then(pass, pass);
    return this.#pass;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#pass;
    for (const [tre, ops] of this.#open) {
      this.#open.delete(tre);
      await ops.nc.close().catch(() => undefined);
    }
  }

  async #reconcile(): Promise<void> {
    const members = new Map(this.o.directory.list().map((t) => [t.name, t]));
    for (const [tre, ops] of this.#open) {
      const member = members.get(tre);
      if (member?.account === undefined || member.account !== ops.account) await this.#close(tre, ops);
    }
    for (const tre of this.#problems.keys()) if (!members.has(tre)) this.#problems.delete(tre);
    let failed = false;
    for (const member of members.values()) {
      if (this.#open.has(member.name)) continue;
      try {
        await this.#setUp(member);
        this.#problems.delete(member.name);
        this.o.emit({ type: "added", tre: member.name });
      } catch (e) {
        failed = true;
        const error = asError(e);
        if (this.#problems.get(member.name) !== error.message) {
          this.#problems.set(member.name, error.message);
          this.o.emit({ type: "error", tre: member.name, error });
        }
      }
      if (this.#stopped) return;
    }
    await this.o.synchronise().catch((e: unknown) => {
      failed = true; // the FED view is brought up to date on the retry
      this.o.emit({ type: "error", error: asError(e) });
    });
    if (failed && this.#retry === undefined && !this.#stopped) {
      this.#retry = setTimeout(() => {
        this.#retry = undefined;
        void this.reconcile();
      }, this.o.retryIntervalMs);
    }
  }

  async #setUp(member: TreMember): Promise<void> {
    const creds = await readCredsFile(join(this.o.credsDir, `${member.name}.creds`));
    if (creds.account !== member.account) {
      throw new Error(
        `${member.name}.creds is a user of account ${creds.account}, not of TRE ${member.name}'s account ${member.account}`,
      );
    }
    const nc = await connect({
      ...SERVICE_CONNECTION,
      servers: this.o.servers,
      ...(this.o.tls ? { tls: this.o.tls } : {}),
      authenticator: credsFileAuthenticator(creds.bytes),
      name: `tremesh-hub-${member.name}`,
    });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureTreStreams(jsm, {
        tre: member.name,
        replicas: this.o.replicas,
        tasksMaxAgeMs: this.o.tasksMaxAgeMs,
      });
      const ops = { nc, jsm, account: creds.account };
      this.#open.set(member.name, ops);
      this.o.watch.set(member.name, jsm);
      // A connection the server ends (the user or the account revoked) is set up again on a later pass.
      void nc.closed().then(() => {
        if (this.#stopped || this.#open.get(member.name) !== ops) return;
        this.#open.delete(member.name);
        this.o.watch.delete(member.name);
        this.o.emit({
          type: "error",
          tre: member.name,
          error: new Error("the operations connection closed"),
        });
        void this.reconcile();
      });
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  async #close(tre: string, ops: Operations): Promise<void> {
    this.#open.delete(tre);
    this.o.watch.delete(tre);
    await ops.nc.close().catch(() => undefined);
    this.o.emit({ type: "removed", tre });
  }
}
