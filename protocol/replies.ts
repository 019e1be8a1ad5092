/**
 * Replies of the hub's request/reply services. They travel back on the requester's own inbox, so
 * they are not signed; everything they report can be checked against signed messages later.
 */
import { RejectCode } from "./errors.js";
import { id, treName } from "./messages.js";
import { arr, bool, type Infer, literal, obj, optional, str, tagged } from "./validate.js";

/** Why the hub refused a submission, beyond the envelope checks of `RejectCode`. */
export const SubmitRejectCode = {
  ...RejectCode,
  unknownProject: "unknown_project",
  projectInactive: "project_inactive",
  notAMember: "not_a_member",
  /** The signer is a researcher whose access the federation admin revoked. */
  researcherRevoked: "researcher_revoked",
  treNotInProject: "tre_not_in_project",
  unavailable: "unavailable",
  /** No target TRE's task queue at the hub had room: a storage limit, named with its size in the message. */
  storageLimit: "storage_limit",
} as const;
export type SubmitRejectCode = (typeof SubmitRejectCode)[keyof typeof SubmitRejectCode];

const accepted = obj({
  status: literal("accepted"),
  taskId: id,
  /** True when this submission id was already accepted: the same task, not a new one. */
  duplicate: bool(),
  /**
   * TREs whose task queue at the hub refused the task for a storage limit (`message` names it and its size): their
   * part has ended `rejected`, while the other TREs run the task.
   */
  notQueued: optional(arr(obj({ tre: treName, message: str({ max: 2000 }) }), { max: 256 })),
});
const rejected = obj({
  status: literal("rejected"),
  code: literal(...Object.values(SubmitRejectCode)),
  message: str({ max: 2000 }),
  field: optional(str({ max: 200 })),
});

export const submitReply = tagged("status", { accepted, rejected });
export type SubmitReply = Infer<typeof submitReply>;
