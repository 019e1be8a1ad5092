/**
 * The message types of the mesh and their bodies. Every body carries a unique `id`, an
 * issued-at `iat` and an expiry `exp` (ms since the epoch); receivers reject expired and
 * replayed ids. `Message` is a discriminated union on `type`; handlers dispatch on it with
 * ts-pattern's `.exhaustive()` so a new type cannot be forgotten.
 */
import { analysisSpec } from "./analysis.js";
import { PROJECT_NAME, TRE_NAME, ULID } from "./names.js";
import { arr, bool, bytes, type Infer, int, literal, obj, optional, str } from "./validate.js";

const MAX_TIME = 8_640_000_000_000_000; // the largest Date in ms

export const id = str({ min: 26, max: 26, pattern: ULID, what: "a ULID" });
export const treName = str({ min: 1, max: 32, pattern: TRE_NAME, what: "a TRE name" });
const projectName = str({ min: 1, max: 64, pattern: PROJECT_NAME, what: "a project name" });
const time = int({ min: 0, max: MAX_TIME });
const reason = str({ max: 2000 });
const sha256Hex = str({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, what: "a sha256 hex digest" });

const base = { id, iat: time, exp: time };
/** An nkey public key (its 56 characters; a receiver that verifies with it checks the rest). */
export const publicKey = str({ min: 56, max: 56 });
/** The most tasks one `tasks` query lists (the newest first). */
export const MAX_TASKS_LISTED = 200;

/** The longest title a task may have, in UTF-16 code units (what `.length` counts). */
export const MAX_TITLE_CHARS = 200;

/**
 * A task's title: no control or formatting characters. Reviewers read it on their terminals (`airlock show`), where an
 * escape sequence or a bidirectional override from a researcher's title would act instead of showing.
 */
export const TITLE = /^[^\p{Cc}\p{Cf}]*$/u;

/** A request crate's `External-Identifier`: one line of text, no control characters. */
export const EXTERNAL_ID = /^\P{Cc}{1,500}$/u;

/** Researcher-signed: what to run, for which project, at which TREs. The signer is the researcher. */
const submission = obj({
  ...base,
  project: projectName,
  tres: arr(treName, { min: 1, max: 256, unique: true }),
  analysis: analysisSpec,
  title: optional(
    str({
      max: MAX_TITLE_CHARS,
      pattern: TITLE,
      what: "one line of text without control or formatting characters",
    }),
  ),
  /**
   * The BagIt `External-Identifier` of the request crate the task came from (`submit --crate`), which every
   * crate of the task keeps; one line of printable text.
   */
  externalId: optional(str({ min: 1, max: 500, pattern: EXTERNAL_ID, what: "one line of printable text" })),
});

/**
 * Largest researcher Submission envelope, in bytes: a Dispatch carries it verbatim, so the hub refuses a larger
 * one at once rather than accept a task it could never dispatch.
 */
export const MAX_SUBMISSION_BYTES = 256 * 1024;

/** Hub-signed, one per TRE: carries the researcher's signed Submission envelope verbatim. */
const dispatch = obj({
  ...base,
  taskId: id,
  tre: treName,
  submission: bytes({ min: 1, max: MAX_SUBMISSION_BYTES }),
});

/** Hub-signed: stop a task at one TRE. */
const cancel = obj({ ...base, taskId: id, tre: treName, reason });

/** Researcher-signed: asks the hub to cancel the signer's own task at every TRE where it has not ended. */
const cancelRequest = obj({ ...base, taskId: id, reason: optional(reason) });

/** The longest a `task` query with `changedFrom` waits for a change, in ms. */
export const MAX_QUERY_WAIT_MS = 25_000;

/**
 * Researcher-signed read of the hub's records: `task` (parent and per-TRE child states with their history),
 * `releases` (the TRE-signed Releases of a task, verbatim), `tasks` (the signer's own most recent tasks, at most
 * `limit`, default 50), `tres` (which TREs are online). Signed so that the hub answers only the task's own
 * researcher, whatever connection the request came through.
 */
const query = obj({
  ...base,
  what: literal("task", "releases", "tasks", "tres"),
  taskId: optional(id),
  /**
   * For `task`: the `version` of the view the researcher holds. The hub answers once the task has changed from it,
   * or after `waitMs` (at most `MAX_QUERY_WAIT_MS`) with the same view: a researcher learns of a change as it
   * happens, without polling.
   */
  changedFrom: optional(str({ min: 1, max: 64, pattern: /^[0-9a-f]+$/, what: "a task view's version" })),
  waitMs: optional(int({ min: 0, max: MAX_QUERY_WAIT_MS })),
  limit: optional(int({ min: 1, max: MAX_TASKS_LISTED })),
});

/**
 * Reviewer-signed read of a TRE's airlock (inside the TRE): `list` the tasks with outputs awaiting review (or
 * every task with `all`), `show` one task's outputs with their disclosure checks and decisions, or the TRE's
 * signed `crate` of a task it has released.
 */
const reviewQuery = obj({
  ...base,
  tre: treName,
  what: literal("list", "show", "crate"),
  taskId: optional(id),
  all: optional(bool()),
});

export const childStates = [
  "queued",
  "received",
  "rejected",
  "accepted",
  "running",
  "executor_error",
  "outputs_pending_review",
  "released",
  "withheld",
  "partially_released",
  "delivered",
  "cancel_requested",
  "cancelled",
  // The hub's own end: the task aged out of the TRE's TASKS stream before the TRE took it.
  "expired",
] as const;
export type ChildState = (typeof childStates)[number];

/**
 * Whose move it is when a TRE ends its part of a task with nothing released (`StatusEvent.mend`): `analysis`, the
 * researcher's (the analysis as asked can never run there); `tre`, the TRE's operators' (its set-up, its keys, its
 * executor failed). Absent: the TRE did not say.
 */
export const mends = ["analysis", "tre"] as const;
export type Mend = (typeof mends)[number];

/** A task's run at one TRE: at most a few (leaf.yaml `maxTaskAttempts`), never more than this. */
export const MAX_ATTEMPT = 100;
const attempt = int({ min: 1, max: MAX_ATTEMPT });

/**
 * Steps one event may carry on the way to its own: a task's progress waits for its next step at the TRE (received,
 * accepted, running, then outputs_pending_review before a Release), and a restarted agent announces an attempt's
 * steps again, a few restarts' re-checks among them.
 */
export const MAX_PASSED = 8;

/** A step a TRE took on the way to the one it announces, not announced before (`StatusEvent.passed`). */
const passedStep = obj({
  state: literal(...childStates),
  at: time,
  reason: optional(reason),
  actor: optional(str({ min: 1, max: 200 })),
});

/** TRE-signed: one transition of a task at that TRE, with who and why. */
const status = obj({
  ...base,
  taskId: id,
  tre: treName,
  state: literal(...childStates),
  actor: str({ min: 1, max: 200 }),
  reason: optional(reason),
  /** Which run of the task at the TRE this event belongs to, from 1; absent means 1 (events from before retries). */
  attempt: optional(attempt),
  /**
   * The steps the TRE took on the way to `state` since its last event, oldest first, each with its own time and
   * reason: a Dispatch received, accepted and started is one event, not three. Same attempt; the event's actor
   * unless a step names its own.
   */
  passed: optional(arr(passedStep, { max: MAX_PASSED })),
  /**
   * Set when the TRE refused a Dispatch without receiving it because it was signed by `signer`, not by the hub key
   * its leaf.yaml pins (`pinned`): the event is `rejected`, passes no step, and the hub applies it only to a child
   * the TRE has not received (status-tracker.ts). Nothing else of that unverified Dispatch is in the event.
   */
  unpinnedHubKey: optional(obj({ pinned: publicKey, signer: publicKey })),
  /** For a `rejected` or `executor_error`: whose move it is (`Mend`); absent when the TRE does not say. */
  mend: optional(literal(...mends)),
});

/** Reviewer-signed (inside the TRE): the decision on one output, bound to its digest. */
const decision = obj({
  ...base,
  taskId: id,
  tre: treName,
  outputId: id,
  outputDigest: sha256Hex,
  verdict: literal("approve", "reject"),
  reason: optional(reason),
});

/** A bare media type (`type/subtype`, RFC 6838 characters); parameters such as `; charset=…` are refused. */
export const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/i;

const releasedOutput = obj({
  outputId: id,
  name: str({ min: 1, max: 200 }),
  /**
   * What `data` is. Absent means an output description (OUTPUT_MEDIA_TYPE in outputs.ts), so Releases from
   * before files could be released stay valid; any other type is a file a reviewer approved as it is.
   */
  mediaType: optional(str({ min: 3, max: 128, pattern: MEDIA_TYPE, what: "a media type (type/subtype)" })),
  /** sha256 of `data`, the value the reviewer's decision signed. */
  digest: sha256Hex,
  data: bytes({ max: 4 * 1024 * 1024 }),
});

/** TRE-signed: the only thing that leaves a TRE with results in it. */
const release = obj({
  ...base,
  taskId: id,
  tre: treName,
  /** The reviewers' signed Decision envelopes, verbatim. */
  decisions: arr(bytes({ min: 1, max: 16 * 1024 }), { max: 1024 }),
  outputs: arr(releasedOutput, { max: 256 }),
  /** Outputs kept inside the TRE: named, never their values. */
  withheld: arr(obj({ outputId: id, name: str({ min: 1, max: 200 }), reason }), { max: 256 }),
  /**
   * The reviewers whose keys signed `decisions`, vouched for by the TRE's signature on this Release, so that a
   * researcher can verify each decision without knowing the TRE's reviewers beforehand. A decision may also be
   * signed by the TRE itself (its auto-release policy).
   */
  reviewers: optional(arr(obj({ name: str({ min: 1, max: 64 }), publicKey }), { max: 64 })),
  /**
   * The TRE's Five Safes RO-Crate of the task, a BagIt zip signed by the TRE, without the payload files this
   * Release carries already (the outputs' bytes, the decisions): crate/release-crate.ts puts them back.
   */
  crate: optional(bytes({ min: 1, max: 256 * 1024 })),
  /**
   * The task's step to this Release's outcome (`releaseOutcome`) at the TRE, at `iat`: the StatusEvent the Release
   * stands for, so none is sent beside it. Who took it, why, in which run (absent means 1), and the steps `passed`
   * on the way since the TRE's last event. Absent in Releases from agents that announce their outcome in a StatusEvent of
   * its own.
   */
  status: optional(
    obj({
      actor: str({ min: 1, max: 200 }),
      reason: optional(reason),
      attempt: optional(attempt),
      passed: optional(arr(passedStep, { max: MAX_PASSED })),
    }),
  ),
});

/** The longest a TRE may wait between heartbeats (leaf.yaml `heartbeatIntervalMs`). */
export const MAX_HEARTBEAT_INTERVAL_MS = 3_600_000;
/** A heartbeat is valid for this many of its TRE's intervals: one lost beat does not make the TRE look gone. */
export const HEARTBEAT_LIFETIME_INTERVALS = 3;
/**
 * The longest a heartbeat may be valid: the hub keeps each heartbeat's id until it expires (its replay guard), so a
 * TRE sending month-long heartbeats, the envelope's own limit, would hold the hub's memory for a month.
 */
export const MAX_HEARTBEAT_LIFETIME_MS = HEARTBEAT_LIFETIME_INTERVALS * MAX_HEARTBEAT_INTERVAL_MS;

/** TRE-signed liveness beacon. */
const heartbeat = obj({
  ...base,
  tre: treName,
  seq: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  agentVersion: str({ max: 64 }),
  running: int({ min: 0, max: 1_000_000 }),
});

/** Body validators by message type. */
export const bodies = {
  submission,
  dispatch,
  cancel,
  cancelRequest,
  query,
  reviewQuery,
  status,
  decision,
  release,
  heartbeat,
} as const;

export type MessageType = keyof typeof bodies;
export const messageTypes = Object.keys(bodies) as MessageType[];

export type Submission = Infer<typeof submission>;
export type Dispatch = Infer<typeof dispatch>;
export type Cancel = Infer<typeof cancel>;
export type CancelRequest = Infer<typeof cancelRequest>;
export type Query = Infer<typeof query>;
export type ReviewQuery = Infer<typeof reviewQuery>;
export type StatusEvent = Infer<typeof status>;
export type Decision = Infer<typeof decision>;
export type Release = Infer<typeof release>;
export type ReleasedOutput = Infer<typeof releasedOutput>;
export type Heartbeat = Infer<typeof heartbeat>;

export interface BodyByType {
  submission: Submission;
  dispatch: Dispatch;
  cancel: Cancel;
  cancelRequest: CancelRequest;
  query: Query;
  reviewQuery: ReviewQuery;
  status: StatusEvent;
  decision: Decision;
  release: Release;
  heartbeat: Heartbeat;
}

/** A verified message: the union every handler matches on. */
export type Message = { [T in MessageType]: { type: T; body: BodyByType[T] } }[MessageType];

export function isMessageType(s: string): s is MessageType {
  return Object.hasOwn(bodies, s);
}
