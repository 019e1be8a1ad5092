/**
 * Restarting a stream's stale sources, and when it is safe to.
 *
 * nats-server (2.10) asks for a source's consumer once and then waits 30 s for the answer. A request sent while
 * the link to the source's side was down is lost, so the source stays idle for those 30 s and then backs off up
 * to 2 min more: a TRE whose link comes back would wait minutes for its results to flow. Removing the source and
 * adding it back makes the server ask again at once, resuming after the last message it holds from it.
 *
 * But the request the server was waiting for does not go away with the source. When its 30 s run out, the
 * server (2.10.27; changed upstream in 2.12) cancels whatever consumer the source with that name has *then* — the
 * new, healthy one — and schedules a retry with back-off. Every restart made while a request is unanswered thus
 * sets up a cancellation up to 30 s later. Restarting blindly every round while a TRE was offline stacked up one
 * per round, and for 30 s after the TRE came back they cancelled its results source again and again, holding
 * its results back for that long and more. So a source is restarted only when the other
 * side is reachable, and again only once the last restart was answered, the other side came back after it, or
 * the server has given up on it (`settleMs`). At most one cancellation per outage remains (the server's own
 * request from before the link came back); the next round restarts the source after it.
 */
import type { JetStreamManager, StreamInfo, StreamSourceInfo } from "@nats-io/jetstream";
import { subjects } from "../protocol/index.js";

/** What is known of the other side of a stream's sources: the far leaf, or the hub, as seen from here. */
export interface PeerState {
  /** Whether it is reachable now, as far as this side can tell. */
  up: boolean;
  /**
   * When it was last seen coming up or alive (ms since the epoch; a heartbeat's arrival, a link's appearance).
   * A restart made before this was asked while it may have been away: it may be asked again. Absent when
   * unknown (a peer in the same server is always reachable).
   */
  since?: number;
}

export interface StaleSourceOptions {
  /**
   * A source with no message or heartbeat for this long, in ms, is stale (so is one never heard from or in
   * error). Default 3 000: three of the 1 s heartbeats nats-server's source consumers send.
   */
  staleAfterMs?: number;
  /** On a clustered server, its name: only the stream's leader restarts the stream's sources. */
  leader?: string;
}

const NANOS_PER_MS = 1_000_000;

/** A source is stale when in error, never heard from (active −1), or silent for `staleAfterMs`. */
function isStaleSource(source: StreamSourceInfo, staleAfterMs: number): boolean {
  return source.error !== undefined || source.active < 0 || source.active >= staleAfterMs * NANOS_PER_MS;
}

/**
 * Restarts the given sources of the stream (as `info`, just read, shows it) now: removes them and adds them back, and the stream resumes each after
 * the last message it holds from it (nothing lost or stored twice). Only when the other side is known to be
 * reachable and no consumer request is outstanding (see the file's comment); `SourceRestarts` decides that for
 * a watcher. Returns the names restarted.
 */
async function restartSources(jsm: JetStreamManager, info: StreamInfo, names: ReadonlySet<string>) {
  const stream = info.config.name;
  const configured = info.config.sources ?? [];
  const remaining = configured.filter((s) => !names.has(s.name));
  if (remaining.length === configured.length) return [];
  // A stream left with neither sources nor subjects would be given a subject named after itself: hold a
  // placeholder while the sources are out.
  const ownSubjects = info.config.subjects ?? [];
  await jsm.streams.update(stream, {
    sources: remaining,
    subjects:
      remaining.length === 0 && ownSubjects.length === 0 ? [subjects.sourceRestart(stream)] : ownSubjects,
  });
  await jsm.streams.update(stream, { sources: configured, subjects: ownSubjects });
  return configured.filter((s) => names.has(s.name)).map((s) => s.name);
}

/**
 * Restarts every stale source of `stream` at once, with no memory of earlier restarts: for a caller that knows
 * the other side has just come back and nothing else restarts these sources (today: the mesh durability test,
 * which runs no watcher).
 * Watchers use `SourceRestarts`. Returns the sources restarted.
 *
 * @example
 * await resumeStaleSources(jsm, "RESULTS_a"); // right after TRE a's leaf linked again
 */
export async function resumeStaleSources(
  jsm: JetStreamManager,
  stream: string,
  { staleAfterMs = 3_000, leader }: StaleSourceOptions = {},
): Promise<string[]> {
  const info = await jsm.streams.info(stream);
  if (leader !== undefined && info.cluster?.leader !== leader) return [];
  const stale = (info.sources ?? []).filter((s) => isStaleSource(s, staleAfterMs)).map((s) => s.name);
  return stale.length === 0 ? [] : restartSources(jsm, info, new Set(stale));
}

interface SourceHistory {
  /** When it was first seen stale in the current spell (cleared when seen healthy). */
  staleSince: number | undefined;
  /** When this watcher last restarted it. */
  restartedAt: number | undefined;
}

export interface SourceRestartsOptions extends StaleSourceOptions {
  /**
   * How long after a restart the server has certainly given up on the consumer request it made, in ms: 30 s
   * (nats-server's wait) plus a margin. Default 35 000.
   */
  settleMs?: number;
  /**
   * How long a never-heard-from source must stay so before a first restart, in ms: a consumer request just made
   * (a source just added) is answered within this. Default 1 000.
   */
  confirmMs?: number;
  now?: () => number;
}

/**
 * A watcher's memory of the restarts it made, per stream and source, so that it restarts a source only when
 * that cannot leave a request behind to cancel the new consumer later (see the file's comment).
 */
export class SourceRestarts {
  readonly #history = new Map<string, SourceHistory>();
  /** When the caller said a stream's sources were already set (`note`). */
  readonly #noted = new Map<string, number>();
  readonly #staleAfterMs: number;
  readonly #settleMs: number;
  readonly #confirmMs: number;
  readonly #now: () => number;

  constructor(private readonly options: SourceRestartsOptions = {}) {
    this.#staleAfterMs = options.staleAfterMs ?? 3_000;
    this.#settleMs = options.settleMs ?? 35_000;
    this.#confirmMs = options.confirmMs ?? 1_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Checks `stream` and restarts the sources it is safe and useful to restart now; `peer` is the other side as
   * far as the caller knows (default: always reachable, time unknown). Returns the sources restarted.
   */
  async check(
    jsm: JetStreamManager,
    stream: string,
    peer: () => Promise<PeerState> | PeerState = () => ({ up: true }),
  ): Promise<string[]> {
    const info = await jsm.streams.info(stream);
    const { leader } = this.options;
    if (leader !== undefined && info.cluster?.leader !== leader) return [];
    const now = this.#now();
    // A note covers the sources the stream had when it was made: those this first check meets.
    const noted = this.#noted.get(stream);
    this.#noted.delete(stream);
    const chosen = new Set<string>();
    // Asked only when a source is stale, and once per check.
    let known: PeerState | undefined;
    const peerState = async () => {
      known ??= await peer();
      return known;
    };
    for (const source of info.sources ?? []) {
      const key = `${stream}\u0000${source.name}`;
      let history = this.#history.get(key);
      if (history === undefined) {
        // A source first met here may have been asked for a moment ago, unless the caller knows it is older.
        history = { staleSince: noted, restartedAt: undefined };
        this.#history.set(key, history);
      }
      if (!isStaleSource(source, this.#staleAfterMs)) {
        history.staleSince = undefined;
        continue;
      }
      history.staleSince ??= now;
      // An error is the answer to the last request: nothing is outstanding, and the server would back off.
      if (source.error !== undefined) {
        chosen.add(source.name);
        continue;
      }
      const far = await peerState();
      if (far.up && this.#shouldRestart(source, history, far, now)) chosen.add(source.name);
    }
    if (chosen.size === 0) return [];
    const restarted = await restartSources(jsm, info, chosen);
    for (const name of restarted) {
      const history = this.#history.get(`${stream}\u0000${name}`);
      if (history) {
        history.restartedAt = now;
        history.staleSince = undefined;
      }
    }
    return restarted;
  }

  /**
   * Says that `stream`'s sources, as they are now, were set no later than `at` (default now): the next check, a
   * second or more later, may restart one never heard from at once, without waiting `confirmMs` from that check.
   * For a watcher that starts on streams it has just ensured; a source the next check does not meet yet (added
   * afterwards) gets `confirmMs` as usual.
   */
  note(stream: string, at: number = this.#now()): void {
    this.#noted.set(stream, at);
  }

  /** Forgets a stream's sources (the stream was removed). */
  forget(stream: string): void {
    this.#noted.delete(stream);
    for (const key of this.#history.keys()) if (key.startsWith(`${stream}\u0000`)) this.#history.delete(key);
  }

  /** For a stale source, not in error, whose other side is up. */
  #shouldRestart(source: StreamSourceInfo, history: SourceHistory, peer: PeerState, now: number): boolean {
    const neverHeard = source.active < 0;
    if (neverHeard && now - (history.staleSince ?? now) < this.#confirmMs) return false;
    const last = history.restartedAt;
    if (last === undefined) return true;
    // Heard from since the last restart (each restart makes a new source, heard from only once answered),
    // then silent: that request is done with.
    if (!neverHeard) return true;
    if (peer.since !== undefined && peer.since > last) return true;
    return now - last >= this.#settleMs;
  }
}

/** How often, in ms, the hub and the leaf check their sourced streams for stale sources unless told otherwise. */
export const SOURCE_CHECK_INTERVAL_MS = 2_000;

/** One stream a watcher checks, with what it knows of the stream's other side. */
export interface StaleSourceTarget {
  jsm: JetStreamManager;
  stream: string;
  /** The other side's state now; default always reachable (a source in the same server). */
  peer?: () => Promise<PeerState> | PeerState;
}

/**
 * Checks sourced streams every `intervalMs` and restarts stale sources when safe (`SourceRestarts`, or the one
 * given, when the caller also checks these streams itself). A failed
 * round (a peer or the server not answering) is left for the next. Returns the function that stops the checks.
 *
 * @example
 * const stop = watchStaleSources([{ jsm, stream: "INBOX", peer: hubLink }], 5_000, (stream, s) => log(stream, s));
 */
export function watchStaleSources(
  targets: readonly StaleSourceTarget[],
  intervalMs: number,
  onResumed: (stream: string, sources: string[]) => void,
  options: SourceRestartsOptions | SourceRestarts = {},
): () => void {
  // A caller that also checks these streams itself shares its memory of restarts with the watch.
  const restarts = options instanceof SourceRestarts ? options : new SourceRestarts(options);
  for (const { stream } of targets) restarts.note(stream);
  let running = false;
  const timer = setInterval(() => {
    // A round that outlives the interval (a slow server) is not run twice at once.
    if (running) return;
    running = true;
    void Promise.allSettled(
      targets.map(async ({ jsm, stream, peer }) => {
        const sources = await restarts.check(jsm, stream, peer);
        if (sources.length > 0) onResumed(stream, sources);
      }),
    ).finally(() => {
      running = false;
    });
  }, intervalMs);
  return () => clearInterval(timer);
}

/**
 * Follows a link that can only be polled (a leaf's hub link, from its server's `/leafz`): up while `isUp` says
 * so, `since` the first poll that found it up after one that did not. A poll that fails counts as down.
 *
 * @example
 * const hubLink = observedLink(async () => (await fetchLeafz(monitorUrl)).leafs.length > 0);
 */
export function observedLink(
  isUp: () => Promise<boolean>,
  now: () => number = Date.now,
): () => Promise<PeerState> {
  let since: number | undefined;
  return async () => {
    const up = await isUp().catch(() => false);
    if (!up) {
      since = undefined;
      return { up: false };
    }
    since ??= now();
    return { up: true, since };
  };
}
