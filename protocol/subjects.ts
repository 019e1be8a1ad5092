/**
 * Every NATS subject, stream and bucket name tremesh uses is built here and nowhere else,
 * so a reviewer can see the whole wire surface (and every permission it needs) in one file.
 *
 * Layout:
 *   tremesh.submit                                researcher → hub submission service (request/reply)
 *   tremesh.tre.<tre>.in.dispatch.<taskId>        hub → TRE, captured by the hub TASKS stream
 *   tremesh.tre.<tre>.in.cancel.<taskId>          hub → TRE, same stream
 *   tremesh.tre.<tre>.out.status.<taskId>         TRE → hub, captured by the leaf OUTBOX stream
 *   tremesh.tre.<tre>.out.release.<taskId>        TRE → hub, same stream
 *   tremesh.tre.<tre>.out.heartbeat               TRE → hub, core NATS (liveness, not durable)
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

/** Subjects by direction. Every builder validates its tokens, so no caller can inject `.`, `*` or `>`. */
export const subjects = {
  submit: `${ROOT}.submit`,

  /** Everything the hub sends to one TRE (the hub TASKS stream's filter). */
  treInbound: (name: string) => `${tre(name)}.in.>`,
  dispatch: (name: string, taskId: string) => `${tre(name)}.in.dispatch.${task(taskId)}`,
  cancel: (name: string, taskId: string) => `${tre(name)}.in.cancel.${task(taskId)}`,

  /** Everything one TRE sends to the hub (the leaf OUTBOX stream's filter). */
  treOutbound: (name: string) => `${tre(name)}.out.>`,
  status: (name: string, taskId: string) => `${tre(name)}.out.status.${task(taskId)}`,
  release: (name: string, taskId: string) => `${tre(name)}.out.release.${task(taskId)}`,
  heartbeat: (name: string) => `${tre(name)}.out.heartbeat`,
  /** Heartbeats of every TRE, for the hub's liveness tracker. */
  allHeartbeats: `${ROOT}.tre.*.out.heartbeat`,
} as const;

/** JetStream names. */
export const streams = {
  /** Hub, in each TRE's account: tasks for that TRE. Limits retention, kept for days. */
  tasks: "TASKS",
  /** Leaf, in the DMZ account: a source of the hub TASKS stream. */
  inbox: "INBOX",
  /** Leaf, in the DMZ account: only released outputs and status events. */
  outbox: "OUTBOX",
} as const;

/** JetStream domain of the hub; each leaf's domain is its TRE name. */
export const HUB_DOMAIN = "hub";

/** The JetStream API prefix that reaches a domain from a connected server. */
export function jsApiPrefix(domain: string): string {
  return `$JS.${domain}.API`;
}
