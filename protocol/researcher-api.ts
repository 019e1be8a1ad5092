/**
 * Replies of the hub's researcher API (`subjects.cancelRequest`, `subjects.query`). Like submission
 * replies they travel back on the researcher's own inbox unsigned; the releases they carry are the
 * TRE-signed envelopes, which the researcher verifies before using anything in them.
 */
import { RejectCode } from "./errors.js";
import { childStates, id, MAX_ATTEMPT, MAX_TASKS_LISTED, mends, publicKey, treName } from "./messages.js";
import { arr, bool, bytes, type Infer, int, literal, obj, optional, str, tagged } from "./validate.js";

/** Why the hub refused a researcher request, beyond the envelope checks of `RejectCode`. */
export const ApiErrorCode = {
  ...RejectCode,
  /** No such task of the signer's: another researcher's task is answered the same way, so ids reveal nothing. */
  notFound: "not_found",
  /** The request is well signed but asks for something this service does not do (a query without its task id). */
  badRequest: "bad_request",
  /** Every TRE of the task has already ended it: nothing left to cancel. */
  alreadyEnded: "already_ended",
  /** The hub could not answer now; retry. */
  unavailable: "unavailable",
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

const MAX_TIME = 8_640_000_000_000_000;
const time = int({ min: 0, max: MAX_TIME });

export const parentStates = [
  "submitted",
  "dispatched",
  "running",
  "completed",
  "partial",
  "failed",
  "cancelled",
] as const;

const childEvent = obj({
  state: literal(...childStates),
  at: time,
  /** Who made the transition: `hub`, or the TRE's signer and its actor (`tre:a/agent`, `tre:a/reviewer:bob`). */
  actor: str({ min: 1, max: 300 }),
  reason: optional(str({ max: 2000 })),
  /** The run of the task at that TRE the event belongs to; absent means 1. */
  attempt: optional(int({ min: 1, max: MAX_ATTEMPT })),
  /** Whose move it is after this end, as the TRE said it (`StatusEvent.mend`). */
  mend: optional(literal(...mends)),
});

/**
 * A TRE that signs with a key the federation did not register for it (its leaf.yaml `signingKeyFile` is not the seed
 * given to `tremesh admin add-tre`): the hub refuses its heartbeats, status events and Releases. `publicKey` is the
 * key its newest refused heartbeat verified with; `lastSeen` when the hub refused it. Only what the hub saw on that
 * TRE's own subjects: no one else can put it there.
 */
const unregisteredKey = obj({ publicKey, lastSeen: time });

const childView = obj({
  tre: treName,
  state: literal(...childStates),
  /** The run of the task at that TRE the state belongs to, when it is not the first. */
  attempt: optional(int({ min: 1, max: MAX_ATTEMPT })),
  /**
   * What the TRE claimed and the hub cannot confirm: a `released` status with no Release stored behind it. The
   * child stays short of the claimed state until the Release arrives.
   */
  discrepancy: optional(str({ max: 2000 })),
  /**
   * For a child that has not ended: the key its TRE signs with that the federation did not register for it
   * (`TreLiveness.unregisteredKey`), so the hub refuses what it sends of this task, and the child cannot move until
   * the TRE's operator fixes leaf.yaml's signing key. The key alone, not when it was last seen: a view changes when
   * the task does, not at every refused heartbeat.
   */
  unregisteredKey: optional(publicKey),
  history: arr(childEvent, { max: 1000 }),
});

/** A task as its researcher sees it: the parent state and every TRE's child state with who, when and why. */
const taskView = obj({
  taskId: id,
  project: str({ min: 1, max: 64 }),
  researcher: str({ min: 1, max: 64 }),
  tres: arr(treName, { min: 1, max: 256 }),
  kind: str({ min: 1, max: 32 }),
  title: optional(str({ max: 200 })),
  state: literal(...parentStates),
  submittedAt: time,
  updatedAt: time,
  children: arr(childView, { max: 256 }),
  /** Names this view: a `task` query with `changedFrom` set to it is answered when the task has moved on. */
  version: optional(str({ min: 1, max: 64, pattern: /^[0-9a-f]+$/ })),
});

/** One TRE as the hub last heard of it (from its signed heartbeats). */
const treLiveness = obj({
  tre: treName,
  online: bool(),
  /** When the hub last verified a heartbeat from it; absent when never. */
  lastSeen: optional(time),
  running: optional(int({ min: 0, max: 1_000_000 })),
  agentVersion: optional(str({ max: 64 })),
  /**
   * The TRE's signing key as the hub knows it. A researcher who has not pinned the TRE's key in their profile
   * verifies Releases with this one, trusting the hub's word for it.
   */
  publicKey: optional(publicKey),
  /** Its heartbeats come signed with another key than `publicKey`, and are refused (newer than any it verified). */
  unregisteredKey: optional(unregisteredKey),
});

const ok = obj({
  status: literal("ok"),
  task: optional(taskView),
  /** For a `tasks` query: the signer's own tasks, the newest first. */
  tasks: optional(arr(taskView, { max: MAX_TASKS_LISTED })),
  /** TRE-signed Release envelopes, verbatim, for `releases`. */
  releases: optional(
    arr(obj({ tre: treName, envelope: bytes({ min: 1, max: 8 * 1024 * 1024 }) }), { max: 256 }),
  ),
  tres: optional(arr(treLiveness, { max: 1000 })),
  /** For a cancel request: the TREs a Cancel was sent to. */
  cancelled: optional(arr(treName, { max: 256 })),
});

const error = obj({
  status: literal("error"),
  code: literal(...Object.values(ApiErrorCode)),
  message: str({ max: 2000 }),
});

export const apiReply = tagged("status", { ok, error });
export type ApiReply = Infer<typeof apiReply>;
export type TaskView = Infer<typeof taskView>;
export type ChildView = Infer<typeof childView>;
export type TreLiveness = Infer<typeof treLiveness>;
export type UnregisteredKey = Infer<typeof unregisteredKey>;
export type ParentState = (typeof parentStates)[number];
