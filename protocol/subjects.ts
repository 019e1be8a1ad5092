/**
 * Every NATS subject, stream and bucket name tremesh uses is built here and nowhere else,
 * so a reviewer can see the whole wire surface (and every permission it needs) in one file.
 *
 * Layout:
 *   tremesh.submit                                researcher → hub submission service (request/reply)
 *   tremesh.api.cancel                            researcher → hub: signed cancel request (request/reply)
 *   tremesh.api.query                             researcher → hub: signed read of task state, releases, TREs
 *   tremesh.tre.<tre>.in.dispatch.<taskId>        hub → TRE, captured by the hub TASKS stream
 *   tremesh.tre.<tre>.in.cancel.<taskId>          hub → TRE, same stream
 *   tremesh.tre.<tre>.out.status.<taskId>         TRE → hub, captured by the leaf OUTBOX stream
 *   tremesh.tre.<tre>.out.release.<taskId>        TRE → hub, same stream
 *   tremesh.tre.<tre>.out.heartbeat               TRE → hub, core NATS (liveness, not durable)
 *   tremesh.airlock.query                         reviewer → agent, inside the TRE (CTRL): signed ReviewQuery (request/reply)
 *   tremesh.airlock.decide                        reviewer → agent, inside the TRE (CTRL): signed Decision (request/reply)
 *   tremesh.airlock.events                        agent → reviewers, inside the TRE (CTRL): outputs awaiting review
 *   tremesh.audit.<scope>                         audit records, stream AUDIT in FED (scope "hub") or a leaf's CTRL
 *
 * JetStream plumbing of the mesh (server configs and stream set-up only; services never publish here):
 *   tremesh.tre.<tre>.jsapi.CONSUMER.CREATE.OUTBOX  hub → leaf: the one JetStream API call a leaf accepts from the hub
 *   $JS.TRE-<tre>.API.CONSUMER.CREATE.RESULTS_<tre>.>  FED → TRE account: FED's source consumer on that TRE's results
 *   $JS.FC.RESULTS_<tre>.>                        FED → TRE account: flow-control replies of that consumer
 *   tremesh.fed.src.<tre>.>                       TRE account → FED: deliveries of that consumer
 *   tremesh.restarting.<stream>                   held by a sourcing stream for a moment while a source restarts
 */
import { isTaskId, isTreName } from "./names.js";

const ROOT = "tremesh";

function tre(name: string): string {
  if (!isTreName(name)) throw new RangeError(`not a valid TRE name: ${JSON.stringify(name)}`);
  return `${ROOT}.tre.${name}`;
}

function task(id: string): string {
  if (!isTaskId(id)) throw new RangeError(`not a valid task id: ${JSON.stringify(id)}`);
  return id;
}

/** A TRE name as one bare subject token (for subjects outside `tremesh.tre.<tre>`). */
function treToken(name: string): string {
  if (!isTreName(name)) throw new RangeError(`not a valid TRE name: ${JSON.stringify(name)}`);
  return name;
}

/** A researcher's connection user name as a subject token (the project-name rule: lower case, digits, `_`, `-`). */
function researcherToken(user: string): string {
  if (!/^[a-z][a-z0-9_-]{0,63}$/.test(user))
    throw new RangeError(`not a valid user name: ${JSON.stringify(user)}`);
  return user;
}

/** JetStream stream names: one token of letters, digits, `_` and `-` (nats-server also refuses `.`, `*`, `>`, spaces). */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function streamName(name: string): string {
  if (!STREAM_NAME.test(name)) throw new RangeError(`not a valid stream name: ${JSON.stringify(name)}`);
  return name;
}

/** JetStream domains of the mesh: the hub's, or a TRE name (a leaf's). */
function domain(name: string): string {
  if (name !== HUB_DOMAIN && !isTreName(name))
    throw new RangeError(`not a valid JetStream domain: ${JSON.stringify(name)}`);
  return name;
}

/** Audit scopes follow the TRE-name rule ("hub" passes it too), so a scope is always one safe token. */
function auditScope(scope: string): string {
  if (!isTreName(scope)) throw new RangeError(`not a valid audit scope: ${JSON.stringify(scope)}`);
  return scope;
}

/** Subjects by direction. Every builder validates its tokens, so no caller can inject `.`, `*` or `>`. */
export const subjects = {
  submit: `${ROOT}.submit`,
  /** A researcher's signed CancelRequest (request/reply). */
  cancelRequest: `${ROOT}.api.cancel`,
  /** A researcher's signed Query (request/reply). */
  query: `${ROOT}.api.query`,
  /**
   * The reply inbox prefix of one researcher's connections: each researcher user may subscribe only below it,
   * so no researcher can read another's replies.
   */
  researcherInbox: (user: string) => `_INBOX_${researcherToken(user)}`,

  /** Inside a TRE only (its CTRL account, never on the hub link): the airlock's review API and its events. */
  airlockQuery: `${ROOT}.airlock.query`,
  airlockDecide: `${ROOT}.airlock.decide`,
  airlockEvents: `${ROOT}.airlock.events`,
  /** A reviewer's reply inbox prefix on the leaf; like a researcher's on the hub, the only place it may subscribe. */
  reviewerInbox: (user: string) => `_INBOX_${researcherToken(user)}`,

  /** Everything the hub sends to one TRE (the hub TASKS stream's filter). */
  treInbound: (name: string) => `${tre(name)}.in.>`,
  dispatch: (name: string, taskId: string) => `${tre(name)}.in.dispatch.${task(taskId)}`,
  cancel: (name: string, taskId: string) => `${tre(name)}.in.cancel.${task(taskId)}`,

  /** Everything one TRE sends to the hub (the FED view's filter on that TRE's results; OUTBOX captures `outboxFilters`). */
  treOutbound: (name: string) => `${tre(name)}.out.>`,
  status: (name: string, taskId: string) => `${tre(name)}.out.status.${task(taskId)}`,
  release: (name: string, taskId: string) => `${tre(name)}.out.release.${task(taskId)}`,
  heartbeat: (name: string) => `${tre(name)}.out.heartbeat`,
  /** Heartbeats of every TRE, for the hub's liveness tracker. */
  allHeartbeats: `${ROOT}.tre.*.out.heartbeat`,
  /** The leaf OUTBOX stream's subjects: status events and releases, never heartbeats (those stay core NATS). */
  outboxFilters: (name: string) => [`${tre(name)}.out.status.*`, `${tre(name)}.out.release.*`],
  /** Status events of every TRE: a filter on the FED results view (`streams.fedResults`). */
  allStatus: `${ROOT}.tre.*.out.status.*`,
  /** Releases of every TRE: a filter on the FED results view (`streams.fedResults`). */
  allReleases: `${ROOT}.tre.*.out.release.*`,

  // JetStream plumbing: used by the server configs and stream set-up only (hub/ and leaf/ server-config.ts, streams.ts).

  /**
   * API prefix with which the hub's results stream (in TRE `name`'s account) creates its source consumer on the
   * leaf's OUTBOX. The leaf maps exactly `<prefix>.CONSUMER.CREATE.OUTBOX` to its JetStream API and refuses the
   * rest of its domain's API from the hub link, so this is the only JetStream call the hub can make on a leaf.
   */
  outboxSourceApi: (name: string) => `${tre(name)}.jsapi`,
  /** API prefix FED uses, through its service import from TRE `name`'s account, to source that TRE's results stream. */
  fedSourceApi: (name: string) => `$JS.TRE-${treToken(name)}.API`,
  /** Deliver prefix of FED's source consumer on TRE `name`'s results stream (exported by that TRE's account to FED). */
  fedSourceDeliver: (name: string) => `${ROOT}.fed.src.${treToken(name)}`,
  /** Every delivery under `fedSourceDeliver(name)`: the stream export and import. */
  fedSourceDeliveries: (name: string) => `${ROOT}.fed.src.${treToken(name)}.>`,
  /**
   * The consumer-create API of one stream, `<apiPrefix>.CONSUMER.CREATE.<stream>`; a source with a filter appends
   * `.<consumer>.<filter>`, so exports and imports add `.>`.
   */
  jsConsumerCreate: (stream: string, apiPrefix = "$JS.API") =>
    `${apiPrefix}.CONSUMER.CREATE.${streamName(stream)}`,
  /** Flow-control replies of every consumer on `stream`: `$JS.FC.<stream>.<consumer>.<token>`. */
  jsFlowControl: (stream: string) => `$JS.FC.${streamName(stream)}.>`,
  /** Acknowledgements of every JetStream consumer (`$JS.ACK.<stream>.<consumer>.…`). */
  jsAcks: "$JS.ACK.>",
  /** Every system subject (server requests such as `$SYS.REQ.ACCOUNT.PING.CONNZ`, events). */
  systemAll: "$SYS.>",
  /**
   * What a sourcing stream with no subjects listens to for the moment its only source is removed and added back
   * (a stream with neither gets a subject named after itself); nothing publishes here.
   */
  sourceRestart: (stream: string) => `${ROOT}.restarting.${streamName(stream)}`,
  /** A JetStream domain's whole API as it crosses a leaf link (`$JS.<domain>.API.>`). */
  jsDomainApi: (name: string) => `${jsApiPrefix(domain(name))}.>`,

  /**
   * One hash-chained audit log: `scope` is "hub" on the hub (FED account) or the TRE's name on its leaf
   * (CTRL account). Never crosses an account boundary: no export or import may name it.
   */
  audit: (scope: string) => `${ROOT}.audit.${auditScope(scope)}`,
} as const;

/** JetStream names. */
export const streams = {
  /** Hub, in each TRE's account: tasks for that TRE. Limits retention, kept for days. */
  tasks: "TASKS",
  /** Leaf, in the DMZ account: a source of the hub TASKS stream. */
  inbox: "INBOX",
  /** Leaf, in the DMZ account: only released outputs and status events. */
  outbox: "OUTBOX",
  /** Hub (FED) and each leaf (CTRL): the append-only, hash-chained audit log of `subjects.audit(scope)`. */
  audit: "AUDIT",
  /**
   * Hub, in TRE `tre`'s account: that TRE's OUTBOX, sourced across the leaf link. One name per TRE because flow
   * control replies are `$JS.FC.<stream>.…`: FED imports them from every TRE account, and imports must not overlap.
   */
  results: (tre: string) => `RESULTS_${treToken(tre)}`,
  /** Hub, in FED: every TRE's results stream sourced across accounts (the federation's view of all results). */
  fedResults: "TRE_RESULTS",
} as const;

/** JetStream domain of the hub; each leaf's domain is its TRE name. */
export const HUB_DOMAIN = "hub";

/** The JetStream API prefix that reaches a domain from a connected server. */
export function jsApiPrefix(domain: string): string {
  return `$JS.${domain}.API`;
}

/** Where rejected messages are recorded, with their reason; `scope` is "hub" or the TRE name. */
export function deadLetterSubject(scope: string): string {
  if (scope !== "hub" && !isTreName(scope))
    throw new RangeError(`not a valid dead-letter scope: ${JSON.stringify(scope)}`);
  return `${ROOT}.deadletter.${scope}`;
}

/**
 * The message subjects below `tremesh.tre.<tre>`, by kind: the direction each travels in and whether it names a
 * task. Each kind is also the message type its subject carries. A new kind is one entry here; `TreSubject` and
 * every `.exhaustive()` match on it then name each handler that must handle it.
 */
const TRE_SUBJECT_KINDS = {
  dispatch: { direction: "in", task: true },
  cancel: { direction: "in", task: true },
  status: { direction: "out", task: true },
  release: { direction: "out", task: true },
  heartbeat: { direction: "out", task: false },
} as const;

type Kinds = typeof TRE_SUBJECT_KINDS;
export type TreSubjectKind = keyof Kinds;

/** A TRE subject split into its parts: a discriminated union on `kind` (and on `direction`). */
export type TreSubject = {
  [K in TreSubjectKind]: {
    tre: string;
    direction: Kinds[K]["direction"];
    kind: K;
  } & (Kinds[K]["task"] extends true ? { taskId: string } : { taskId?: never });
}[TreSubjectKind];

/** Parses a TRE message subject, or undefined for any other subject (another kind, a missing or extra token). */
export function parseTreSubject(subject: string): TreSubject | undefined {
  const t = subject.split(".");
  if (t.length < 5 || t.length > 6 || t[0] !== ROOT || t[1] !== "tre") return undefined;
  const [, , tre, direction, kind, taskId] = t as [
    string,
    string,
    string,
    string,
    string,
    string | undefined,
  ];
  if (!isTreName(tre) || !Object.hasOwn(TRE_SUBJECT_KINDS, kind)) return undefined;
  const shape = TRE_SUBJECT_KINDS[kind as TreSubjectKind];
  if (direction !== shape.direction) return undefined;
  if (shape.task ? taskId === undefined || !isTaskId(taskId) : taskId !== undefined) return undefined;
  return { tre, direction, kind, ...(taskId === undefined ? {} : { taskId }) } as TreSubject;
}
