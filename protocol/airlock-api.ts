/**
 * Replies of a TRE's airlock review API (`subjects.airlockQuery`, `subjects.airlockDecide`), which exists
 * only inside the TRE: reviewers reach it on the leaf's controlled account, never through the hub. Requests
 * are reviewer-signed envelopes (ReviewQuery, Decision); replies travel back unsigned on the reviewer's own
 * inbox, like the hub's researcher API.
 */
import { RejectCode } from "./errors.js";
import { childStates, id } from "./messages.js";
import { arr, bytes, type Infer, int, literal, obj, optional, str, tagged } from "./validate.js";

/** Why the airlock refused a reviewer's request, beyond the envelope checks of `RejectCode`. */
export const AirlockErrorCode = {
  ...RejectCode,
  /** No such task or output in this TRE's airlock. */
  notFound: "not_found",
  /** A well-signed request this service does not do (`show` without a task id). */
  badRequest: "bad_request",
  /** The output's decision is final (released or withheld): it can never be changed. */
  alreadyDecided: "already_decided",
  /** This reviewer has already decided on this output. */
  alreadyReviewed: "already_reviewed",
  /** The decision signs a digest that is neither the output's nor its releasable form's. */
  digestMismatch: "digest_mismatch",
  /** A rejection, or releasing an output as it is when the checks changed or failed it, needs a reason. */
  reasonRequired: "reason_required",
  /** The task has ended (cancelled): nothing of it can be released. */
  taskEnded: "task_ended",
  /** The airlock could not answer now; retry. */
  unavailable: "unavailable",
} as const;
export type AirlockErrorCode = (typeof AirlockErrorCode)[keyof typeof AirlockErrorCode];

const MAX_TIME = 8_640_000_000_000_000;
const time = int({ min: 0, max: MAX_TIME });
const sha256Hex = str({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, what: "a sha256 hex digest" });

const checkOutcomes = ["pass", "review", "fail"] as const;
const outputStates = ["pending", "released", "withheld"] as const;

/** One finding of the automated disclosure checks: where, which rule, and why, in words for a reviewer. */
const finding = obj({
  at: str({ max: 64 }),
  rule: str({ min: 1, max: 64 }),
  outcome: literal("review", "fail"),
  detail: str({ max: 500 }),
});

const decisionView = obj({
  reviewer: str({ min: 1, max: 64 }),
  verdict: literal("approve", "reject"),
  /** The digest the decision signed: the output as it is, or its releasable form. */
  digest: sha256Hex,
  reason: optional(str({ max: 2000 })),
  at: time,
});

/** One held output as a reviewer sees it. `data` and `releasable` are sent only by `show`. */
const outputView = obj({
  outputId: id,
  name: str({ min: 1, max: 200 }),
  mediaType: str({ min: 1, max: 200 }),
  /** sha256 of the output as the executor made it. */
  digest: sha256Hex,
  size: int({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  createdAt: time,
  outcome: literal(...checkOutcomes),
  findings: arr(finding, { max: 100_000 }),
  /** sha256 of the releasable form (failing cells withheld, counts rounded); absent when none can be made. */
  releasableDigest: optional(sha256Hex),
  state: literal(...outputStates),
  /** For a released output: the digest of what was released. */
  releasedDigest: optional(sha256Hex),
  /** The decisions this reviewer may see: all of them once the reviews are no longer blind (see `hidden`). */
  decisions: arr(decisionView, { max: 64 }),
  /**
   * How many other reviewers' decisions are left out of `decisions`: reviews are independent, so until this
   * reviewer has decided, the output is final, or every required review is in (they disagree), the others'
   * decisions are not shown, only their number. Absent: none hidden.
   */
  hidden: optional(int({ min: 1, max: 64 })),
  data: optional(bytes({ max: 16 * 1024 * 1024 })),
  releasable: optional(bytes({ max: 16 * 1024 * 1024 })),
});

const taskView = obj({
  taskId: id,
  /** The task's state at this TRE. */
  state: literal(...childStates),
  project: str({ min: 1, max: 64 }),
  researcher: str({ min: 1, max: 64 }),
  kind: str({ min: 1, max: 32 }),
  title: optional(str({ max: 200 })),
  heldAt: time,
  outputs: arr(outputView, { max: 256 }),
});

const ok = obj({
  status: literal("ok"),
  tasks: optional(arr(taskView, { max: 100_000 })),
  /** For a decision: the output after it. */
  output: optional(outputView),
  /** For `crate`: the TRE's signed Five Safes RO-Crate of the task (a BagIt zip), as it published it. */
  crate: optional(bytes({ min: 1, max: 64 * 1024 * 1024 })),
});

const error = obj({
  status: literal("error"),
  code: literal(...Object.values(AirlockErrorCode)),
  message: str({ max: 2000 }),
});

export const airlockReply = tagged("status", { ok, error });
export type AirlockReply = Infer<typeof airlockReply>;
export type AirlockTaskView = Infer<typeof taskView>;
export type AirlockOutputView = Infer<typeof outputView>;
export type AirlockFinding = Infer<typeof finding>;
export type AirlockDecisionView = Infer<typeof decisionView>;
export type CheckOutcome = (typeof checkOutcomes)[number];
export type HeldOutputState = (typeof outputStates)[number];
