/**
 * The hostile-input suite (issue 9): a real federation in operator mode (hub nats-server and services, two TREs
 * with their leaf nats-servers and agents) and, party by party, everything that party can publish, made hostile:
 *
 * - a researcher: the submission service and the researcher API (cancel, query);
 * - a compromised TRE: its leaf's OUTBOX (status events, Releases), its heartbeats and the one hub JetStream call
 *   its link has, which is all that reaches the hub from it;
 * - a compromised hub: Dispatches and Cancels into a TRE's TASKS stream, published with FED's connection and,
 *   where it matters, signed with the hub's own key;
 * - a reviewer: the leaf's airlock API (review queries, decisions) and the audit log's consumer API.
 *
 * Then, across parties: messages over and near max_payload, forged and misused keys, replays, one TRE or
 * researcher reaching for another's data, hostile file names in a Release, SQL in analyses, and leaves that dial
 * the hub without a TRE's credentials.
 *
 * Per category the suite counts what it tried, what was refused (an error reply naming the problem, a
 * dead-letter record with its reason, a permission violation, a `rejected` task state), what was harmless by
 * design (each says why where it is counted) and what crashed (no answer, a stalled consumer, a process gone, an
 * error event of a service, an unhandled rejection), and prints the table. Then a legitimate task still
 * completes with the exact answer, and no hostile message left a task, a Release or a status behind.
 *
 * The first describe block holds one focused test per defect this suite found (each fixed).
 * Fuzz cases come from a seeded PRNG: TREMESH_FUZZ_SEED=<n> reproduces a run; TREMESH_HOSTILE_VERBOSE=1 also
 * prints every case with its outcome.
 */
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  cancelTask,
  fetchReleases,
  fetchTask,
  fetchTres,
  sendSubmission,
  signSubmission,
} from "../aggregator/index.js";
import { listReviews, sendDecision, showReview } from "../cli/airlock-requests.js";
import { type ConfMap, fetchLeafz, startNatsServer, toNatsConf, waitFor } from "../common/index.js";
import type { QuerySpec } from "../executors/index.js";
import {
  generatePatients,
  mulberry32,
  type PatientRow,
  patientProfiles,
  writePatientsCsv,
  writePatientsDuckDb,
} from "../fixtures/index.js";
import { loadHubConfig } from "../hub/index.js";
import { RELEASE_BUCKET } from "../hub/status-tracker.js";
import type { ChildRecord } from "../hub/task-store.js";
import { AgentState } from "../leaf/agent-state.js";
import {
  type AnalysisSpec,
  DEFAULT_MAX_LIFETIME_MS,
  generateKeyPair,
  MAX_SUBMISSION_BYTES,
  type MessageType,
  newId,
  type SigningKey,
  sealEnvelope,
  sealFresh,
  signingKeyFromSeed,
  streams,
  subjects,
  uniqueSafeNames,
} from "../protocol/index.js";
import { collect } from "./harness/collect.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { addProject, type Federation, registerResearchers, startFederation } from "./harness/federation.js";
import {
  allBut,
  DeadLetterLedger,
  type FuzzSource,
  fuzzCase,
  fuzzSource,
  inBatches,
  jsPublish,
  junkApiRequest,
  loginOutcome,
  noRouteOutcome,
  type Outcome,
  opensAs,
  pick,
  publishOverMaxPayload,
  type Rand,
  reencode,
  refusedIf,
  requestOutcome,
  resignedBy,
  Sender,
  type Sent,
  seededId,
  settle,
  signRaw,
  sleep,
  Tally,
  trustOf,
  withFields,
} from "./harness/hostile.js";
import {
  cancelBody,
  cancelRequestBody,
  decisionBody,
  dispatchBodyOf,
  HOSTILE_COUNT,
  heartbeatBody,
  queryBody,
  releaseBody,
  reviewQueryBody,
  statusBody,
  submissionBody,
  times,
} from "./harness/hostile-bodies.js";
import { hostileFederationOptions } from "./harness/hostile-federation.js";
import { referenceOutput } from "./harness/reference-stats.js";
import { type StoredEntry, storedEntries } from "./harness/stream-contents.js";

const SEED = Number(process.env.TREMESH_FUZZ_SEED ?? 20261209);
const DAY = 86_400_000;
/** Fuzz cases per subject: enough to reach every check, few enough for a 2-core CI machine. */
const CASES = {
  submit: 150,
  cancel: 80,
  query: 80,
  status: 150,
  release: 100,
  heartbeat: 120,
  /** Malformed JetStream API requests on the few API subjects a TRE's link or a reviewer may use. */
  jsApi: 40,
} as const;
const CASES_HUB = { dispatch: 150, cancel: 80 } as const;
const CASES_REVIEWER = { query: 80, decide: 80 } as const;
/** A message just under the servers' max_payload (NATS's default 1 MiB), leaving room for headers. */
const NEAR_MAX_PAYLOAD = 1024 * 1024 - 2048;

const rowsA = generatePatients(patientProfiles.small, 91);
const rowsB = generatePatients(patientProfiles.small, 92);
const COUNT = HOSTILE_COUNT as QuerySpec;
/** A Submission alice may make: her study, at TRE a. */
const STUDY_AT_A = { project: "study", tres: ["a"], analysis: COUNT };

let fed: Federation;
const tally = new Tally();
const errors: string[] = [];
let errorsSeen = 0;
const onUnhandled = (reason: unknown) => errors.push(`unhandled rejection: ${String(reason)}`);

interface Keys {
  alice: SigningKey;
  bob: SigningKey;
  hub: SigningKey;
  treA: SigningKey;
  treB: SigningKey;
  ritaA: SigningKey;
  ritaB: SigningKey;
  stranger: SigningKey;
}
let k: Keys;
let nc: {
  alice: NatsConnection;
  bob: NatsConnection;
  admin: NatsConnection;
  ritaA: NatsConnection;
  ritaB: NatsConnection;
};
let hubDead: DeadLetterLedger;
let leafDead: DeadLetterLedger;
/** Tasks a legitimate party created on purpose; every other task at the hub is a hostile message's doing. */
const expectedTasks = new Set<string>();
/** Task ids of Dispatches a compromised hub forged: their TRE's status events are refused at the hub as unknown. */
const forgedTaskIds = new Set<string>();
/** Baseline tasks: released at a; pending review at b; refused by a's agent (its Release is forged later). */
const base = { done: "", pending: "", files: "" };
let duckdbDigest = "";
/** Releases a test made on purpose as a compromised TRE (`<taskId>.<tre>`), besides those of finished children. */
const forgedRelease = new Set<string>();
/** The baseline tasks' children at the hub, and a's agent's history of `base.done`, once they had settled. */
const baseline = new Map<string, ChildRecord[]>();
let baselineAgentDone: string[] = [];

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** The PRNG of test number `n` (the suite's seed plus `n`, so each test reproduces alone), and ids from it. */
function seeded(n: number) {
  const rand = mulberry32(SEED + n);
  return { rand, id: () => seededId(rand) };
}

// ---------------------------------------------------------------------------------------------------------
// Set-up
// ---------------------------------------------------------------------------------------------------------

/** Submissions a legitimate researcher sent, by task id. */
const sentEnvelopes = new Map<string, Uint8Array>();

async function submitAs(who: "alice" | "bob", tres: string[], analysis: AnalysisSpec): Promise<string> {
  const envelope = signSubmission(who === "alice" ? k.alice : k.bob, { project: "study", tres, analysis });
  const reply = await sendSubmission(nc[who], envelope);
  if (reply.status !== "accepted") throw new Error(`submission refused: ${reply.code} ${reply.message}`);
  expectedTasks.add(reply.taskId);
  sentEnvelopes.set(reply.taskId, envelope);
  return reply.taskId;
}

const leafOf = (tre: string) => fed.leaves.get(tre)!;
const agentStateAtA = () => AgentState.open(jetstream(leafOf("a").ctrl));
const hubStatusConsumer = () => fed.hub.services.jsm.consumers.info(streams.fedResults, "hub-status");
const agentConsumer = (tre: string) => leafOf(tre).dmzJsm.consumers.info(streams.inbox, "agent");
const releaseKv = () => new Kvm(fed.hub.services.js).open(RELEASE_BUCKET);
/** Waits until a consumer holds no message unacknowledged: a refused one is acknowledged just after its dead letter. */
const allAcknowledged = (what: string, info: () => Promise<{ num_ack_pending: number }>) =>
  waitFor(`${what} to acknowledge every message it took`, async () => (await info()).num_ack_pending === 0);

/**
 * A connection of TRE `tre`'s own DMZ user, apart from its agent's (so the server may close it): the password
 * lives only in the leaf's generated server config, which the TRE's operator can read.
 */
async function connectDmz(tre: string): Promise<NatsConnection> {
  const leaf = leafOf(tre);
  const conf = await readFile(leaf.server.configFile, "utf8");
  const password = /user:\s*"tremesh-agent-dmz"\s*password:\s*"([^"]+)"/.exec(conf)?.[1];
  if (!password) throw new Error("no DMZ user in the leaf's config");
  return connect({
    servers: leaf.server.clientUrl,
    user: "tremesh-agent-dmz",
    pass: password,
    maxReconnectAttempts: 0,
  });
}

async function childState(taskId: string, tre: string): Promise<string | undefined> {
  return (await fed.hub.services.tasks.children(taskId)).find((c) => c.tre === tre)?.state;
}

async function waitForChild(taskId: string, tre: string, states: readonly string[], timeoutMs = 30_000) {
  return waitFor(
    `${tre}'s part of ${taskId} to reach ${states.join(" or ")}`,
    async () => {
      const s = await childState(taskId, tre);
      return s !== undefined && states.includes(s) ? s : undefined;
    },
    { timeoutMs },
  );
}

beforeAll(async () => {
  process.on("unhandledRejection", onUnhandled);
  fed = await startFederation(hostileFederationOptions(["alice", "bob"], errors));
  const duckdb = join(fed.files.dir, "patients-a.duckdb");
  await writePatientsDuckDb(rowsA, duckdb);
  duckdbDigest = sha256(await readFile(duckdb));
  await writePatientsCsv(rowsB, join(fed.files.dir, "patients-b.csv"));
  await fed.startLeaf("a");
  await fed.startLeaf("b");
  await registerResearchers(fed, ["alice", "bob"]);
  await addProject(fed, { project: "study", tres: ["a", "b"], members: ["alice"] });

  const key = async (profile: string) => (await fed.profile(profile)).key!;
  k = {
    alice: await key("alice"),
    bob: await key("bob"),
    hub: (await loadHubConfig(fed.files.hubConfig)).hubKey,
    treA: leafOf("a").config.treKey,
    treB: leafOf("b").config.treKey,
    ritaA: await key("reviewer-a-rita"),
    ritaB: await key("reviewer-b-rita"),
    stranger: signingKeyFromSeed(generateKeyPair("user").seed),
  };
  nc = {
    alice: await fed.connect("alice"),
    bob: await fed.connect("bob"),
    admin: await fed.connect("admin"),
    ritaA: await fed.connect("reviewer-a-rita"),
    ritaB: await fed.connect("reviewer-b-rita"),
  };
  hubDead = new DeadLetterLedger(fed.hub.services.jsm);
  leafDead = new DeadLetterLedger(leafOf("a").ctrlJsm);

  base.done = await submitAs("alice", ["a"], COUNT);
  base.pending = await submitAs("alice", ["b"], COUNT);
  base.files = await submitAs("alice", ["a"], {
    kind: "histogram",
    dataset: "patients",
    column: "age",
    bins: { min: 0, max: 100, count: 10 },
  });
  await waitForChild(base.done, "a", ["released"]);
  await waitForChild(base.pending, "b", ["outputs_pending_review"]);
  await waitForChild(base.files, "a", ["rejected"]);
  for (const t of [base.done, base.pending, base.files])
    baseline.set(t, await fed.hub.services.tasks.children(t));
  baselineAgentDone = (await (await agentStateAtA()).get(base.done))?.history.map((h) => h.state) ?? [];
}, 120_000);

afterAll(async () => {
  process.off("unhandledRejection", onUnhandled);
  await fed?.[Symbol.asyncDispose]();
});

// ---------------------------------------------------------------------------------------------------------
// Running cases, and telling a refusal from a crash
// ---------------------------------------------------------------------------------------------------------

async function agentRejected(taskId: string): Promise<string | undefined> {
  const t = await (await agentStateAtA()).get(taskId);
  if (t?.state !== "rejected") return undefined;
  return t.history.at(-1)?.reason;
}

/**
 * Counts every message `sender` sent by its dead letter in `ledger` (or, for a claimed task, a's agent's
 * `rejected`), once its core publishes are flushed.
 */
async function settleIn(ledger: DeadLetterLedger, sender: Sender): Promise<void> {
  await sender.flush();
  await settle(tally, ledger, sender.sent, { agentRejected });
}

/** A fuzz case's message id, from its bytes and subject: a case drawn twice is one message to JetStream. */
const byContent = (s: Sent) => `hostile.${sha256(s.bytes)}.${sha256(s.subject)}`;

/** One request of a hostile party: what it is, the service's subject, the bytes. */
type Ask = readonly [what: string, subject: string, bytes: Uint8Array];

/** Sends each case in turn as `conn`, counting the service's answer. */
async function askEach(category: string, conn: NatsConnection, cases: readonly Ask[]): Promise<void> {
  for (const [what, subject, bytes] of cases)
    tally.add(category, what, await requestOutcome(conn, subject, bytes));
}

/** Sends a message that should be taken, then the same again: the first must answer `first`; the second counts. */
async function askTwice(
  category: string,
  what: string,
  conn: NatsConnection,
  subject: string,
  bytes: Uint8Array,
  first: object,
): Promise<void> {
  expect(await requestOutcome(conn, subject, bytes)).toMatchObject(first);
  tally.add(category, what, await requestOutcome(conn, subject, bytes));
}

/**
 * For each subject in turn, `n` cases drawn from its source, sent as `conn` to the service on the subject 16 at a
 * time, each answer counted.
 */
async function askFuzzed(
  category: string,
  conn: NatsConnection,
  rand: Rand,
  sources: readonly (readonly [subject: string, n: number, source: FuzzSource])[],
): Promise<void> {
  for (const [subject, n, source] of sources) {
    const cases = Array.from({ length: n }, () => fuzzCase(rand, source));
    await inBatches(cases, 16, async (c) =>
      tally.add(category, `${subject}: ${c.kind}`, await requestOutcome(conn, subject, c.bytes)),
    );
  }
}

/** Malformed JetStream API requests (`CASES.jsApi` of them) on the subjects `subjectOf` draws, each counted. */
async function malformedApiCalls(
  category: string,
  conn: NatsConnection,
  subjectOf: (i: number) => string,
  requestBody: () => Uint8Array | string,
): Promise<void> {
  for (let i = 0; i < CASES.jsApi; i++) {
    const subject = subjectOf(i);
    tally.add(
      category,
      `${subject.slice(0, 60)}: malformed request`,
      await noRouteOutcome(conn, subject, requestBody()),
    );
  }
}

/**
 * After a category: every service still answers, every consumer has drained, every process runs, and no
 * service reported an error of its own. Anything else is a crash of that category.
 */
async function health(category: string): Promise<void> {
  const problems: string[] = [];
  if (!fed.hub.server.running) problems.push("the hub's nats-server exited");
  for (const [tre, leaf] of fed.leaves)
    if (!leaf.server.running) problems.push(`${tre}'s leaf nats-server exited`);
  const submit = await requestOutcome(nc.alice, subjects.submit, new Uint8Array([0xc1]));
  if (!("refused" in submit)) problems.push(`the submission service: ${JSON.stringify(submit)}`);
  try {
    await fetchTres(nc.alice, k.alice, { timeoutMs: 10_000 });
  } catch (e) {
    problems.push(`the researcher API: ${String(e)}`);
  }
  for (const [tre, conn, key] of [
    ["a", nc.ritaA, k.ritaA],
    ["b", nc.ritaB, k.ritaB],
  ] as const) {
    try {
      await listReviews(conn, key, tre);
    } catch (e) {
      problems.push(`${tre}'s airlock: ${String(e)}`);
    }
  }
  const drained = async (
    what: string,
    info: () => Promise<{ num_pending: number; num_ack_pending: number }>,
  ) => {
    try {
      await waitFor(
        `${what} to drain`,
        async () => {
          const i = await info();
          return i.num_pending === 0 && i.num_ack_pending === 0;
        },
        { timeoutMs: 20_000, intervalMs: 200 },
      );
    } catch {
      const i = await info().catch(() => undefined);
      problems.push(
        `${what} stalled: ${JSON.stringify(i && { pending: i.num_pending, ackPending: i.num_ack_pending })}`,
      );
    }
  };
  await drained("the hub's status consumer", hubStatusConsumer);
  for (const tre of fed.leaves.keys()) await drained(`${tre}'s agent consumer`, () => agentConsumer(tre));
  for (const e of errors.slice(errorsSeen)) problems.push(e);
  errorsSeen = errors.length;
  for (const p of problems) tally.crash(category, p);
}

/**
 * Each category's verdict, after its health check: nothing crashed, every case refused (or harmless by design,
 * with its reason).
 */
async function expectHealthyAndAllRefused(category: string): Promise<void> {
  await health(category);
  const r = tally.row(category);
  expect(r.problems, category).toEqual([]);
  expect(r.crashed, category).toBe(0);
  expect(r.refused + r.byDesign, category).toBe(r.tried);
  expect(r.tried, category).toBeGreaterThan(0);
}

/** A message a's DMZ stores in `stream` (the first one `match` picks): its bytes and its message id. */
async function storedAtA(stream: string, match: (e: StoredEntry) => boolean) {
  const jsm = leafOf("a").dmzJsm;
  const entry = (await storedEntries(jsm, stream)).find(match)!;
  return { data: (await jsm.streams.getMessage(stream, { seq: entry.seq }))!.data, msgId: entry.msgId };
}

/**
 * alice's combined answer for a task (`tremesh aggregate --json`), compared cell by cell with the truth for
 * `rows`: the cells compared and what the aggregate excluded. Throws on a difference, with the CLI's errors.
 */
async function compareWithTruth(taskId: string, spec: QuerySpec, rows: readonly PatientRow[]) {
  const r = await fed.cli(["aggregate", taskId, "--json"], "alice");
  try {
    const doc = JSON.parse(r.out.join("\n")) as {
      outputs: { result: Record<string, unknown> }[];
      excluded: unknown[];
    };
    const truth = referenceOutput(spec, [...rows]);
    return {
      code: r.code,
      excluded: doc.excluded,
      cells: expectMatchesTruth(doc.outputs[0]!.result, truth, { exact: true }),
    };
  } catch (e) {
    throw new Error(`${String(e).slice(0, 200)} ${r.err.join(" ")}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Messages, valid until a case makes them hostile
// ---------------------------------------------------------------------------------------------------------

/** A Dispatch of a Submission alice signed for `taskId` (or of `submission`). */
function dispatchBody(rand: Rand, taskId: string, tre = "a", submission?: Uint8Array) {
  return dispatchBodyOf(
    rand,
    taskId,
    tre,
    submission ?? sealEnvelope("submission", submissionBody(rand, taskId, [tre]), k.alice),
  );
}

/** A Submission valid field by field (two `in` filters of 1000 long values), larger than a Dispatch may carry. */
function bigSubmission(id?: string): Uint8Array {
  const inList = (c: string) => ({
    column: "region",
    op: "in" as const,
    value: Array.from({ length: 1000 }, (_, i) => `${c}${i}`.padEnd(250, "r")),
  });
  return signSubmission(k.alice, {
    ...(id ? { id } : {}),
    project: "study",
    tres: ["a"],
    analysis: { kind: "count", dataset: "patients", filters: [inList("x"), inList("y")] },
  });
}

/**
 * A compromised hub's message about a task it makes up, into TRE a's TASKS: `make` gets the new task id and gives
 * the bytes (and a subject, else the task's Dispatch subject). a's agent may claim the task, so its `rejected`
 * state refuses it as well as a dead letter; a's status events about it are the hub's to refuse as unknown.
 */
async function forgeTask(
  toTre: Sender,
  rand: Rand,
  what: string,
  make: (taskId: string) => { subject?: string; bytes: Uint8Array },
): Promise<void> {
  const taskId = seededId(rand);
  forgedTaskIds.add(taskId);
  const { subject = subjects.dispatch("a", taskId), bytes } = make(taskId);
  await toTre.js(what, subject, bytes, { agentTask: taskId });
}

// ---------------------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------------------

describe("defects this suite found, each on its own", () => {
  /** A new count of alice's at TRE b, once its output waits for b's reviewer. */
  async function pendingAtB(): Promise<string> {
    const taskId = await submitAs("alice", ["b"], COUNT);
    await waitForChild(taskId, "b", ["outputs_pending_review"]);
    return taskId;
  }

  async function expectHealthy(): Promise<void> {
    await health("health after the defect tests");
    expect(tally.row("health after the defect tests").problems).toEqual([]);
  }

  it("refuses a submission whose signer field is not a key, instead of failing to audit the refusal", async () => {
    const honest = sealEnvelope("submission", submissionBody(seeded(20).rand), k.alice);
    const reply = await sendSubmission(nc.alice, withFields(honest, { signer: "\u00e9".repeat(56) }));
    expect(reply).toMatchObject({ status: "rejected", code: "unknown_signer" });
  });

  it("dead-letters a message on a kilobytes-long subject once, at the hub and at a TRE, and moves on", async () => {
    const long = "L".repeat(3000);
    const outbox = `tremesh.tre.a.out.status.${long}`;
    const status = sealEnvelope("status", statusBody(seeded(21).rand, newId()), k.treA);
    await jetstream(leafOf("a").dmz).publish(outbox, status, { msgID: `long.${newId()}` });
    const tasks = `tremesh.tre.a.in.dispatch.${long}`;
    await jetstream(nc.admin).publish(tasks, status, { msgID: `long.${newId()}` });
    for (const [ledger, subject] of [
      [hubDead, outbox],
      [leafDead, tasks],
    ] as const) {
      await ledger.arrival(subject, status);
      await sleep(2_500); // a message nak'd for a failure of ours would be back by now, and dead-lettered again
      await ledger.refresh();
      expect(ledger.available(subject, status).map((r) => r.code)).toEqual(["wrong_subject"]);
      ledger.take(subject, status);
    }
    await allAcknowledged("the hub's status consumer", hubStatusConsumer);
    await allAcknowledged("a's agent consumer", () => agentConsumer("a"));
  });

  it("refuses a status or a Release from a TRE the task was not sent to, and keeps no such Release", async () => {
    const { rand } = seeded(22);
    const js = jetstream(leafOf("a").dmz);
    const sent = [
      [
        subjects.status("a", base.pending),
        sealEnvelope("status", statusBody(rand, base.pending, "a", "released"), k.treA),
      ],
      [subjects.release("a", base.pending), sealEnvelope("release", releaseBody(rand, base.pending), k.treA)],
    ] as const;
    for (const [subject, bytes] of sent) await js.publish(subject, bytes, { msgID: `other.${newId()}` });
    for (const [subject, bytes] of sent) {
      await hubDead.arrival(subject, bytes);
      expect(hubDead.take(subject, bytes)?.code).toBe("wrong_tre");
    }
    await allAcknowledged("the hub's status consumer", hubStatusConsumer);
    expect(await (await releaseKv()).get(`${base.pending}.a`)).toBeNull();
    expect((await fed.hub.services.tasks.children(base.pending)).map((c) => c.tre)).toEqual(["b"]);
  });

  it("refuses, as oversize, a valid Submission larger than a Dispatch can carry, and keeps no task for it", async () => {
    const id = newId();
    const big = bigSubmission(id);
    expect(big.length).toBeGreaterThan(MAX_SUBMISSION_BYTES);
    expect(await sendSubmission(nc.alice, big)).toMatchObject({ status: "rejected", code: "oversize" });
    expect(await fed.hub.services.tasks.get(id)).toBeUndefined();
  });

  it("dispatches a submission issued just ahead of the hub's clock, valid for the longest time, so its TRE runs it", async () => {
    const envelope = signSubmission(
      k.alice,
      { ...STUDY_AT_A, validForMs: DEFAULT_MAX_LIFETIME_MS },
      Date.now() + 50_000,
    );
    const reply = await sendSubmission(nc.alice, envelope);
    expect(reply.status).toBe("accepted");
    if (reply.status !== "accepted") return;
    expectedTasks.add(reply.taskId);
    await waitForChild(reply.taskId, "a", ["released"]);
  });

  it("answers a cancel whose reason is longer than an audit record holds, and the TRE records the cancel", async () => {
    const taskId = await pendingAtB();
    expect(await cancelTask(nc.alice, k.alice, taskId, "r".repeat(1_500))).toEqual(["b"]);
    await waitForChild(taskId, "b", ["cancelled"]);
    await expectHealthy();
  });

  it("records a reviewer's rejection whose reason is longer than an audit record holds, and ends the task", async () => {
    const taskId = await pendingAtB();
    const output = (await showReview(nc.ritaB, k.ritaB, "b", taskId)).outputs[0]!;
    const decided = await sendDecision(nc.ritaB, k.ritaB, {
      tre: "b",
      taskId,
      outputId: output.outputId,
      outputDigest: output.digest,
      verdict: "reject",
      reason: "w".repeat(1_500),
    });
    expect(decided.state).toBe("withheld");
    await waitForChild(taskId, "b", ["withheld"]);
    await expectHealthy();
  });

  it("refuses a fresh Dispatch of a Submission whose researcher's signature has expired: a hub cannot run it again", async () => {
    // The hub holds every Submission it was sent; a compromised hub can wrap an old one in a Dispatch of its own,
    // valid from now, on the day the TRE has forgotten the task (task-retention.ts) or long after alice meant it.
    const { rand } = seeded(23);
    const taskId = seededId(rand);
    forgedTaskIds.add(taskId);
    const iat = Date.now() - 2 * 3_600_000;
    const expired = sealEnvelope(
      "submission",
      { ...submissionBody(rand, taskId), iat, exp: iat + 3_600_000 },
      k.alice,
    );
    const dispatch = sealEnvelope("dispatch", dispatchBodyOf(rand, taskId, "a", expired), k.hub);
    await jetstream(nc.admin).publish(subjects.dispatch("a", taskId), dispatch, { msgID: `old.${taskId}` });
    const reason = await waitFor("a's agent to decide on the re-dispatched submission", async () => {
      const t = await (await agentStateAtA()).get(taskId);
      return t && t.state !== "received" ? `${t.state}: ${t.history.at(-1)?.reason}` : undefined;
    });
    expect(reason).toMatch(/^rejected: the researcher's submission expired/);
    await expectHealthy();
  });

  it("refuses a query or cancel valid for longer than a request needs, whose id the hub would keep for as long", async () => {
    // The hub remembers each request's id until it expires, to refuse a replay: a researcher sending month-long
    // requests, each with a new id, grows that memory for a month. The CLI's requests live 60 s.
    const month = DEFAULT_MAX_LIFETIME_MS;
    const query = sealFresh("query", { what: "tres" }, k.alice, month);
    const cancel = sealFresh("cancelRequest", { taskId: newId(), reason: "x" }, k.alice, month);
    for (const [subject, bytes] of [
      [subjects.query, query],
      [subjects.cancelRequest, cancel],
    ] as const)
      expect(await requestOutcome(nc.alice, subject, bytes)).toEqual({ refused: "bad_timestamps" });
    expect(
      await requestOutcome(nc.alice, subjects.query, sealFresh("query", { what: "tres" }, k.alice, 60_000)),
    ).toMatchObject({ accepted: expect.any(String) });
  });
});

describe("hostile input against a real federation", () => {
  it("a researcher's fuzzed envelopes on submit, cancel and query: each refused with a code and a reason", async () => {
    const category = "fuzz: researcher → hub services";
    const { rand } = seeded(0);
    const researcher = trustOf({ key: k.alice, role: "researcher" });
    const signed = () => [
      sealEnvelope("submission", submissionBody(rand), k.alice),
      sealEnvelope("query", queryBody(rand), k.alice),
      sealEnvelope("cancelRequest", cancelRequestBody(rand, base.done), k.alice),
      signRaw("dispatch", dispatchBody(rand, seededId(rand)), k.alice),
      signRaw("status", statusBody(rand, base.done), k.alice),
    ];
    /** A source for messages of `type`, the `own`th of `signed`: the others are its wrong types. */
    const source = (type: MessageType, own: number, body: () => Record<string, unknown>) =>
      fuzzSource(type, k.alice, body, allBut(own, signed), opensAs(researcher, type));
    await askFuzzed(category, nc.alice, rand, [
      [subjects.submit, CASES.submit, source("submission", 0, () => submissionBody(rand))],
      [
        subjects.cancelRequest,
        CASES.cancel,
        source("cancelRequest", 2, () => cancelRequestBody(rand, base.pending)),
      ],
      [subjects.query, CASES.query, source("query", 1, () => queryBody(rand, base.done))],
    ]);
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("a compromised TRE's fuzzed status events, Releases, heartbeats and hub API calls: each refused on the record", async () => {
    const category = "fuzz: TRE → hub (OUTBOX, heartbeat, JS API)";
    const { rand } = seeded(1);
    const leaf = leafOf("a");
    const treTrust = trustOf({ key: k.treA, role: "tre", tre: "a" });
    const wrongTypes = (taskId: string, not: string) =>
      [
        ["status", () => sealEnvelope("status", statusBody(rand, taskId), k.treA)],
        ["release", () => sealEnvelope("release", releaseBody(rand, taskId), k.treA)],
        ["heartbeat", () => sealEnvelope("heartbeat", heartbeatBody(rand), k.treA)],
        ["submission", () => sealEnvelope("submission", submissionBody(rand), k.alice)],
        ["dispatch", () => sealEnvelope("dispatch", dispatchBody(rand, taskId), k.hub)],
      ]
        .filter(([type]) => type !== not)
        .map(([, make]) => (make as () => Uint8Array)());
    const source = (type: "status" | "release" | "heartbeat", taskId: string): FuzzSource => {
      const body = () =>
        type === "status"
          ? statusBody(rand, taskId)
          : type === "release"
            ? releaseBody(rand, taskId)
            : heartbeatBody(rand);
      // A schema-valid heartbeat signed by a is a's word on its liveness (status events and Releases for a task
      // the hub does not know are still refused, so they stay in).
      const legit = type === "heartbeat" ? opensAs(treTrust, "heartbeat", "a") : undefined;
      return fuzzSource(type, k.treA, body, () => wrongTypes(taskId, type), legit);
    };
    const toHub = new Sender(leaf.dmz, category, byContent);
    for (const type of ["status", "release"] as const) {
      const cases = Array.from({ length: CASES[type] }, (_, i) => {
        const taskId = seededId(rand);
        // One in ten on a subject the OUTBOX stream captures but no TRE result subject has (a task id that is no
        // id), some of them long enough to overflow anything that copies a subject into a bounded record.
        const subject =
          i % 10 === 9
            ? `tremesh.tre.a.out.${type}.${pick(rand, [taskId.toLowerCase(), "x", "..", `${taskId}X`, "ÿ", "L".repeat(2000 + Math.floor(rand() * 1000))])}`
            : subjects[type]("a", taskId);
        const c = fuzzCase(rand, source(type, taskId));
        return { what: `${subject.slice(0, 80)}: ${c.kind}`, subject, bytes: c.bytes };
      });
      await inBatches(cases, 16, (s) => toHub.js(s.what, s.subject, s.bytes));
    }
    for (let i = 0; i < CASES.heartbeat; i++) {
      const c = fuzzCase(rand, source("heartbeat", seededId(rand)));
      toHub.core(`${subjects.heartbeat("a")}: ${c.kind}`, subjects.heartbeat("a"), c.bytes);
    }
    await settleIn(hubDead, toHub);
    // The one hub JetStream call a's link may make (a consumer on a's own TASKS, how INBOX sources it), malformed.
    const create = `$JS.hub.API.CONSUMER.CREATE.${streams.tasks}`;
    await malformedApiCalls(
      category,
      leaf.dmz,
      (i) =>
        i % 2 === 0 ? create : `${create}.${pick(rand, ["x", "..", "L".repeat(500)])}.tremesh.tre.a.in.>`,
      () => junkApiRequest(rand, streams.tasks, "tremesh.tre.a.in.dispatch.X"),
    );
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("a compromised hub's fuzzed Dispatches and Cancels in a TRE's TASKS: each ends in the TRE's dead letters", async () => {
    const category = "fuzz: hub → TRE (TASKS)";
    const { rand } = seeded(2);
    const hubTrust = trustOf({ key: k.hub, role: "hub" });
    const toTre = new Sender(nc.admin, category, byContent);
    for (const type of ["dispatch", "cancel"] as const) {
      const other = type === "dispatch" ? "cancel" : "dispatch";
      const cases = Array.from({ length: CASES_HUB[type] }, (_, i) => {
        const taskId = seededId(rand);
        forgedTaskIds.add(taskId);
        const body = (t: "dispatch" | "cancel", reason: string) =>
          t === "dispatch" ? dispatchBody(rand, taskId) : cancelBody(rand, taskId, "a", reason);
        const wrongTypes = () => [
          sealEnvelope(other, body(other, "x") as never, k.hub),
          sealEnvelope("status", statusBody(rand, taskId), k.treA),
          sealEnvelope("submission", submissionBody(rand, taskId), k.alice),
          sealEnvelope("heartbeat", heartbeatBody(rand), k.treA),
        ];
        // A Cancel the hub's key signed, schema-valid, is the hub's word: not hostile to the TRE.
        const legit = type === "cancel" ? opensAs(hubTrust, "cancel", "a") : undefined;
        const c = fuzzCase(
          rand,
          fuzzSource(type, k.hub, () => body(type, "fuzz"), wrongTypes, legit),
        );
        // One in fifteen on a subject TASKS captures that names no task (or an unknown kind), a few of them long.
        const odd = pick(rand, [taskId.toLowerCase(), "..", "L".repeat(2000 + Math.floor(rand() * 1000))]);
        const subject =
          i % 15 === 14
            ? `tremesh.tre.a.in.${pick(rand, [type, "evil"])}.${odd}`
            : subjects[type]("a", taskId);
        return { what: `${subject.slice(0, 80)}: ${c.kind}`, subject, bytes: c.bytes, taskId };
      });
      await inBatches(cases, 16, (s) => toTre.js(s.what, s.subject, s.bytes, { agentTask: s.taskId }));
    }
    await settleIn(leafDead, toTre);
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("a reviewer's fuzzed review queries, decisions and audit-log API calls: each refused", async () => {
    const category = "fuzz: reviewer → airlock, audit API";
    const { rand } = seeded(3);
    const reviewer = trustOf({ key: k.ritaB, role: "reviewer", tre: "b" });
    const randomDecision = () => ({
      id: seededId(rand),
      ...times(rand),
      taskId: seededId(rand),
      tre: "b",
      outputId: seededId(rand),
      outputDigest: sha256(seededId(rand)),
      verdict: "approve",
    });
    const signed = () => [
      sealEnvelope("reviewQuery", reviewQueryBody(rand), k.ritaB),
      sealEnvelope("decision", randomDecision() as never, k.ritaB),
      sealEnvelope("submission", submissionBody(rand), k.alice),
      sealEnvelope("status", statusBody(rand, base.pending, "b"), k.treB),
    ];
    /** A source for messages of `type`, the `own`th of `signed`: the others are its wrong types. */
    const source = (type: MessageType, own: number, body: () => Record<string, unknown>) =>
      fuzzSource(type, k.ritaB, body, allBut(own, signed), opensAs(reviewer, type, "b"));
    await askFuzzed(category, nc.ritaB, rand, [
      [subjects.airlockQuery, CASES_REVIEWER.query, source("reviewQuery", 0, () => reviewQueryBody(rand))],
      [subjects.airlockDecide, CASES_REVIEWER.decide, source("decision", 1, randomDecision)],
    ]);
    // A reviewer may also read the TRE's audit log by sequence (direct gets): malformed ones, and the consumer API
    // it has no right to.
    await malformedApiCalls(
      category,
      nc.ritaB,
      () =>
        pick(rand, [
          `$JS.API.DIRECT.GET.${streams.audit}`,
          `$JS.API.DIRECT.GET.${streams.audit}`,
          `$JS.API.CONSUMER.CREATE.${streams.audit}`,
          `$JS.API.CONSUMER.CREATE.${streams.audit}.${seededId(rand)}.>`,
          `$JS.API.CONSUMER.DELETE.${streams.audit}.${seededId(rand)}`,
        ]),
      () => junkApiRequest(rand, streams.audit, "tremesh.audit.b"),
    );
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("oversized messages: over max_payload the server closes the sender; near it, every receiver refuses the huge field", async () => {
    const category = "oversized";
    const { rand, id } = seeded(4);
    for (const [what, open, subject, server] of [
      ["researcher → submit, over max_payload", () => fed.connect("alice"), subjects.submit, fed.hub.server],
      [
        "compromised hub → a's TASKS, over max_payload",
        () => fed.connect("admin"),
        subjects.dispatch("a", newId()),
        fed.hub.server,
      ],
      [
        "reviewer → b's airlock, over max_payload",
        () => fed.connect("reviewer-b-rita"),
        subjects.airlockDecide,
        leafOf("b").server,
      ],
      [
        "TRE a → its OUTBOX, over max_payload",
        () => connectDmz("a"),
        subjects.status("a", newId()),
        leafOf("a").server,
      ],
    ] as const) {
      const conn = await open();
      const error = await publishOverMaxPayload(conn, subject, 1024 * 1024 + 1, () => server.readLog());
      tally.add(category, what, refusedIf(Boolean(error), "Maximum Payload Violation", "the server took it"));
      await conn.close().catch(() => undefined);
    }

    // Near max_payload: every field of every type far past its limit, correctly signed, so only limits stand in the way.
    const huge = "h".repeat(NEAR_MAX_PAYLOAD - 4096);
    const hugeBytes = new Uint8Array(NEAR_MAX_PAYLOAD - 4096);
    /** Sends each case as `conn`, once it is known to be within max_payload: the receiver must refuse it. */
    const askNearMax = async (conn: NatsConnection, cases: Ask[]) => {
      for (const [what, , bytes] of cases) expect(bytes.length, what).toBeLessThanOrEqual(NEAR_MAX_PAYLOAD);
      await askEach(category, conn, cases);
    };
    // Valid field by field, but larger than a Dispatch may carry the researcher's Submission.
    const big = bigSubmission();
    expect(big.length).toBeGreaterThan(256 * 1024);
    await askNearMax(nc.alice, [
      [
        "submission, 1 MiB title",
        subjects.submit,
        signRaw("submission", { ...submissionBody(rand), title: huge }, k.alice),
      ],
      [
        "submission, 1 MiB of analysis",
        subjects.submit,
        signRaw("submission", { ...submissionBody(rand), analysis: { ...COUNT, groupBy: [huge] } }, k.alice),
      ],
      ["a valid 500 KB submission, more than a Dispatch carries", subjects.submit, big],
      [
        "cancel request, 1 MiB reason",
        subjects.cancelRequest,
        signRaw("cancelRequest", { ...cancelRequestBody(rand, base.pending), reason: huge }, k.alice),
      ],
      [
        "query, 1 MiB extra field",
        subjects.query,
        signRaw("query", { ...queryBody(rand), pad: hugeBytes }, k.alice),
      ],
    ]);
    const decision = {
      id: id(),
      ...times(rand),
      taskId: base.pending,
      tre: "b",
      outputId: id(),
      outputDigest: sha256("x"),
      verdict: "reject",
      reason: huge,
    };
    const reviewQuery = () => ({ ...reviewQueryBody(rand, "b", "show"), taskId: huge });
    await askNearMax(nc.ritaB, [
      ["decision, 1 MiB reason", subjects.airlockDecide, signRaw("decision", decision, k.ritaB)],
      ["review query, 1 MiB task id", subjects.airlockQuery, signRaw("reviewQuery", reviewQuery(), k.ritaB)],
    ]);

    const toHub = new Sender(leafOf("a").dmz, category, () => `oversize.${id()}`);
    const outbox = async (what: string, type: "status" | "release", body: (taskId: string) => object) => {
      const taskId = id();
      await toHub.js(what, subjects[type]("a", taskId), signRaw(type, body(taskId), k.treA));
    };
    await outbox("status, 1 MiB reason", "status", (t) => ({ ...statusBody(rand, t), reason: huge }));
    await outbox("release, 1 MiB withheld reason", "release", (t) => ({
      ...releaseBody(rand, t),
      withheld: [{ outputId: id(), name: "x", reason: huge }],
    }));
    await outbox("release, 1 MiB of decisions", "release", (t) => ({
      ...releaseBody(rand, t),
      decisions: [hugeBytes],
    }));
    const heartbeat = signRaw("heartbeat", { ...heartbeatBody(rand), agentVersion: huge }, k.treA);
    toHub.core("heartbeat, 1 MiB agent version", subjects.heartbeat("a"), heartbeat);
    await settleIn(hubDead, toHub);

    const toTre = new Sender(nc.admin, category, () => `oversize.${id()}`);
    await forgeTask(toTre, rand, "dispatch, 1 MiB submission", (t) => ({
      bytes: signRaw("dispatch", dispatchBody(rand, t, "a", hugeBytes), k.hub),
    }));
    await forgeTask(toTre, rand, "cancel, 1 MiB reason", (t) => ({
      subject: subjects.cancel("a", t),
      bytes: signRaw("cancel", cancelBody(rand, t, "a", huge), k.hub),
    }));
    await settleIn(leafDead, toTre);
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("forged keys: unknown signers, a party signing another's type, a TRE signing for another TRE", async () => {
    const category = "forged keys";
    const { rand, id } = seeded(5);

    // Researcher side: the hub's submission service and API.
    const submission = (key: SigningKey) => signRaw("submission", submissionBody(rand), key);
    await askEach(category, nc.alice, [
      ["submission signed by an unknown key", subjects.submit, submission(k.stranger)],
      ["submission signed by the hub's key", subjects.submit, submission(k.hub)],
      ["submission signed by TRE a's key", subjects.submit, submission(k.treA)],
      ["submission signed by a reviewer's key", subjects.submit, submission(k.ritaA)],
    ]);
    const notAMember = submission(k.bob);
    await askEach(category, nc.bob, [
      ["submission by a registered researcher who is not a member", subjects.submit, notAMember],
    ]);
    const honest = sealEnvelope("submission", submissionBody(rand), k.alice);
    const query = sealEnvelope("query", queryBody(rand), k.alice);
    await askEach(category, nc.alice, [
      ["alice's submission with a stranger's signature", subjects.submit, resignedBy(honest, k.stranger)],
      [
        "alice's signed query relabelled as a submission",
        subjects.submit,
        withFields(query, { type: "submission" }),
      ],
      [
        "a researcher's Dispatch sent to the submission service",
        subjects.submit,
        signRaw("dispatch", dispatchBody(rand, id()), k.alice),
      ],
      [
        "cancel request signed by an unknown key",
        subjects.cancelRequest,
        signRaw("cancelRequest", cancelRequestBody(rand, base.pending), k.stranger),
      ],
      ["query signed by TRE a's key", subjects.query, signRaw("query", queryBody(rand, base.done), k.treA)],
      [
        "expired submission",
        subjects.submit,
        signSubmission(k.alice, { ...STUDY_AT_A, validForMs: 1_000 }, Date.now() - 60_000),
      ],
      [
        "submission issued an hour ahead",
        subjects.submit,
        signSubmission(k.alice, STUDY_AT_A, Date.now() + 3_600_000),
      ],
      [
        "submission valid for a year",
        subjects.submit,
        signSubmission(k.alice, { ...STUDY_AT_A, validForMs: 365 * DAY }),
      ],
    ]);

    // A compromised hub: Dispatches and Cancels into TRE a's TASKS that the agent must not trust.
    const toTre = new Sender(nc.admin, category, () => `forged.${id()}`);
    const forge = (what: string, make: (taskId: string) => { subject?: string; bytes: Uint8Array }) =>
      forgeTask(toTre, rand, what, make);
    for (const [who, key] of [
      ["a researcher", k.alice],
      ["an unknown key", k.stranger],
      ["TRE a itself", k.treA],
    ] as const)
      await forge(`Dispatch signed by ${who}`, (t) => ({
        bytes: signRaw("dispatch", dispatchBody(rand, t), key),
      }));
    await forge("Cancel signed by a researcher", (t) => ({
      subject: subjects.cancel("a", t),
      bytes: signRaw("cancel", cancelBody(rand, t), k.alice),
    }));
    await forge("hub-signed Dispatch for TRE b in a's TASKS", (t) => ({
      bytes: sealEnvelope("dispatch", dispatchBody(rand, t, "b"), k.hub),
    }));
    await forge("hub-signed Cancel for TRE b in a's TASKS", (t) => ({
      subject: subjects.cancel("a", t),
      bytes: sealEnvelope("cancel", cancelBody(rand, t, "b"), k.hub),
    }));
    await forge("hub-signed Dispatch on another task's subject", (t) => ({
      subject: subjects.dispatch("a", id()),
      bytes: sealEnvelope("dispatch", dispatchBody(rand, t), k.hub),
    }));
    await forge("hub-signed Cancel on another task's subject", (t) => ({
      subject: subjects.cancel("a", id()),
      bytes: sealEnvelope("cancel", cancelBody(rand, t), k.hub),
    }));
    // Hub-signed, so the agent claims each; the researcher's own signature inside is what fails.
    const dispatching = (t: string, submission: Uint8Array) =>
      sealEnvelope("dispatch", dispatchBody(rand, t, "a", submission), k.hub);
    const signedFor = (t: string, key: SigningKey, tres = ["a"]) =>
      signRaw("submission", submissionBody(rand, t, tres), key);
    for (const [what, key, tres] of [
      ["a submission by an unknown researcher", k.stranger, ["a"]],
      ["a submission by a researcher a does not approve", k.bob, ["a"]],
      ["a submission the hub signed itself", k.hub, ["a"]],
      ["alice's submission for TRE b only", k.alice, ["b"]],
    ] as const)
      await forge(`hub-signed Dispatch of ${what}`, (t) => ({
        bytes: dispatching(t, signedFor(t, key, [...tres])),
      }));
    await forge("hub-signed Dispatch whose task is not alice's submission", (t) => ({
      bytes: dispatching(t, signedFor(id(), k.alice)),
    }));
    await settleIn(leafDead, toTre);

    // A compromised TRE a: what it sends the hub through its OUTBOX and heartbeats.
    const toHub = new Sender(leafOf("a").dmz, category, () => `forged.${id()}`);
    await toHub.js(
      "status for TRE b signed by TRE a",
      subjects.status("a", base.pending),
      sealEnvelope("status", statusBody(rand, base.pending, "b"), k.treA),
    );
    await toHub.js(
      "Release for TRE b signed by TRE a",
      subjects.release("a", base.pending),
      sealEnvelope("release", releaseBody(rand, base.pending, "b"), k.treA),
    );
    for (const [who, key] of [
      ["a researcher", k.alice],
      ["the hub's key", k.hub],
      ["a's reviewer", k.ritaA],
    ] as const)
      await toHub.js(
        `status signed by ${who}`,
        subjects.status("a", base.done),
        signRaw("status", statusBody(rand, base.done), key),
      );
    await toHub.js(
      "a's status for a task sent only to b",
      subjects.status("a", base.pending),
      sealEnvelope("status", statusBody(rand, base.pending, "a", "released"), k.treA),
    );
    await toHub.js(
      "a's Release for a task sent only to b",
      subjects.release("a", base.pending),
      sealEnvelope("release", releaseBody(rand, base.pending), k.treA),
    );
    await toHub.js(
      "a's status on another task's subject",
      subjects.status("a", base.done),
      sealEnvelope("status", statusBody(rand, base.files), k.treA),
    );
    for (const [what, bytes] of [
      ["heartbeat for TRE b signed by TRE a", sealEnvelope("heartbeat", heartbeatBody(rand, "b"), k.treA)],
      ["heartbeat signed by an unknown key", signRaw("heartbeat", heartbeatBody(rand), k.stranger)],
      ["heartbeat signed by a researcher", signRaw("heartbeat", heartbeatBody(rand), k.alice)],
      // Its id would be held at the hub for the day, against replays: a flood of them, for days.
      [
        "heartbeat valid for a day",
        sealEnvelope("heartbeat", { ...heartbeatBody(rand), exp: Date.now() + DAY }, k.treA),
      ],
    ] as const)
      toHub.core(what, subjects.heartbeat("a"), bytes);
    await settleIn(hubDead, toHub);

    // A reviewer: decisions on b's real pending output, signed by keys b's airlock must not take.
    const pending = (await showReview(nc.ritaB, k.ritaB, "b", base.pending)).outputs[0]!;
    const output = { outputId: pending.outputId, digest: pending.releasableDigest ?? pending.digest };
    const decision = (key: SigningKey, change: Record<string, unknown> = {}) =>
      signRaw("decision", { ...decisionBody(rand, base.pending, "b", output), ...change }, key);
    const expired = { iat: Date.now() - 2 * DAY, exp: Date.now() - DAY };
    const decide = subjects.airlockDecide;
    await askEach(category, nc.ritaB, [
      ["decision signed by the researcher", decide, decision(k.alice)],
      ["decision signed by TRE a's reviewer", decide, decision(k.ritaA)],
      ["decision signed by TRE b's own key", decide, decision(k.treB)],
      ["decision signed by an unknown key", decide, decision(k.stranger)],
      ["b's reviewer deciding for TRE a", decide, decision(k.ritaB, { tre: "a" })],
      ["decision on another digest", decide, decision(k.ritaB, { outputDigest: sha256("not the output") })],
      ["expired decision", decide, decision(k.ritaB, expired)],
      [
        "review query signed by the researcher",
        subjects.airlockQuery,
        signRaw("reviewQuery", reviewQueryBody(rand), k.alice),
      ],
    ]);
    expect((await showReview(nc.ritaB, k.ritaB, "b", base.pending)).outputs[0]!.state).toBe("pending");
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("replays: a re-sent message never makes a second task, status, Release or run", async () => {
    const category = "replays";
    const { rand, id } = seeded(6);

    // Researcher: a resubmission is the same task (a retry must be safe); any other replay is refused.
    const again = await sendSubmission(nc.alice, sentEnvelopes.get(base.done)!);
    tally.add(
      category,
      "the same Submission again",
      again.status === "accepted" && again.duplicate && again.taskId === base.done
        ? { byDesign: "a retried submission is answered with its task, duplicate: true" }
        : { accepted: JSON.stringify(again) },
    );
    await askEach(category, nc.alice, [
      ["the same Submission in another byte form", subjects.submit, reencode(sentEnvelopes.get(base.done)!)],
      [
        "a Submission reusing a task's id",
        subjects.submit,
        signSubmission(k.alice, { id: base.done, project: "study", tres: ["a", "b"], analysis: COUNT }),
      ],
    ]);
    const cancel = sealEnvelope("cancelRequest", cancelRequestBody(rand, base.files), k.alice);
    await askTwice(category, "a cancel request again", nc.alice, subjects.cancelRequest, cancel, {
      refused: "already_ended",
    });
    const query = sealEnvelope("query", queryBody(rand, base.done), k.alice);
    await askTwice(category, "a query again", nc.alice, subjects.query, query, {
      accepted: expect.any(String),
    });

    // TRE a: its own status event (a refusal's) and Release (which carries the release's step and the task's
    // progress) for ended tasks, re-sent into OUTBOX (found by the message ids the agent gives them: other tests here
    // wrote hostile ones on these subjects).
    const status = await storedAtA(streams.outbox, (e) => e.msgId === `status.a.${base.files}.rejected`);
    const release = await storedAtA(streams.outbox, (e) => e.msgId === `release.a.${base.done}`);
    const toHub = new Sender(leafOf("a").dmz, category, () => `replay.${id()}`);
    const statusSubject = subjects.status("a", base.files);
    const releaseSubject = subjects.release("a", base.done);
    await toHub.js("a status event again", statusSubject, status.data);
    await toHub.js("a status event again, same message id", statusSubject, status.data, {
      msgId: status.msgId,
    });
    await toHub.js("a Release again", releaseSubject, release.data);
    await toHub.js("a Release again, same message id", releaseSubject, release.data, {
      msgId: release.msgId,
    });
    await toHub.js("a Release again in another byte form", releaseSubject, reencode(release.data));
    const second = sealEnvelope("release", releaseBody(rand, base.done), k.treA);
    await toHub.js("a second, different Release for a released task", releaseSubject, second);
    const beat = await new Promise<Uint8Array>((resolve) =>
      nc.admin.subscribe(subjects.heartbeat("a"), { max: 1, callback: (_e, m) => resolve(m.data) }),
    );
    toHub.core("a heartbeat again", subjects.heartbeat("a"), beat);
    await settleIn(hubDead, toHub);

    // A compromised hub: the Dispatch of a task a has run, and Cancels of it, re-sent into a's TASKS.
    const dispatchSubject = subjects.dispatch("a", base.done);
    const dispatch = await storedAtA(streams.inbox, (e) => e.subject === dispatchSubject);
    const toTre = new Sender(nc.admin, category, () => `replay.${id()}`);
    await toTre.js("a Dispatch again", dispatchSubject, dispatch.data);
    await toTre.js("a Dispatch again, same message id", dispatchSubject, dispatch.data, {
      msgId: dispatch.msgId,
    });
    await toTre.js("a Dispatch again in another byte form", dispatchSubject, reencode(dispatch.data));
    const hubCancel = sealEnvelope("cancel", cancelBody(rand, base.done, "a", "replayed"), k.hub);
    await toTre.js("a Cancel of a task released here", subjects.cancel("a", base.done), hubCancel);
    await toTre.js("the same Cancel again", subjects.cancel("a", base.done), hubCancel);
    await settleIn(leafDead, toTre);
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("cross-TRE access: TRE a reaches nothing of TRE b's; a researcher or reviewer reads nothing of another's", async () => {
    const category = "cross-TRE access";
    const { rand, id } = seeded(7);
    const leaf = leafOf("a");

    // a's DMZ writing as b: no stream of a's captures b's subjects, and the link carries none of them.
    for (const [what, subject] of [
      ["a's JetStream publish of a status as TRE b", subjects.status("b", id())],
      ["a's JetStream publish of a Release as TRE b", subjects.release("b", id())],
    ] as const) {
      const sent = await jsPublish(
        leaf.dmz,
        { category, what, subject, bytes: sealEnvelope("status", statusBody(rand, id(), "b"), k.treA) },
        `cross.${id()}`,
      );
      tally.add(
        category,
        what,
        refusedIf(Boolean(sent.refusedAtPublish), "no stream takes it (no responders)", "stored"),
      );
    }
    const heartbeats = collect(nc.admin, subjects.allHeartbeats);
    await nc.admin.flush();
    const forged = sealEnvelope("heartbeat", heartbeatBody(rand, "b"), k.treA);
    const ownBefore = heartbeats.messages.filter((m) => m.subject === subjects.heartbeat("a")).length;
    leaf.dmz.publish(subjects.heartbeat("b"), forged);
    // a's agent beats on the same connection, in order: once its next beat is at the hub, the forged one would be.
    await waitFor(
      "a's next heartbeat at the hub",
      () => heartbeats.messages.filter((m) => m.subject === subjects.heartbeat("a")).length > ownBefore,
      { timeoutMs: 10_000 },
    );
    tally.add(
      category,
      "a heartbeat on b's subject from a's DMZ",
      refusedIf(
        !heartbeats.messages.some((m) => Buffer.from(m.data).equals(forged)),
        "the link does not carry it",
        "reached the hub",
      ),
    );
    heartbeats.subscription.unsubscribe();
    for (const [what, subject] of [
      ["b's results stream, through a's link", `$JS.hub.API.STREAM.INFO.${streams.results("b")}`],
      ["a message of a's TASKS, through a's link", `$JS.hub.API.STREAM.MSG.GET.${streams.tasks}`],
      ["the hub's stream list, through a's link", "$JS.hub.API.STREAM.NAMES"],
      ["purge a's TASKS, through a's link", `$JS.hub.API.STREAM.PURGE.${streams.tasks}`],
      ["delete a's TASKS, through a's link", `$JS.hub.API.STREAM.DELETE.${streams.tasks}`],
      ["a consumer on b's results, through a's link", `$JS.hub.API.CONSUMER.CREATE.${streams.results("b")}`],
      ["the researcher submission service, from a's DMZ", subjects.submit],
      ["the researcher query service, from a's DMZ", subjects.query],
    ] as const)
      tally.add(category, what, await noRouteOutcome(leaf.dmz, subject, "{}"));
    // The one hub API call a's link has: a consumer on a's own TASKS. For a's tasks it finds them (the control);
    // for b's it finds none, since b's tasks are in b's account.
    const pendingFor = async (tre: string) => {
      const m = await leaf.dmz.request(
        `$JS.hub.API.CONSUMER.CREATE.${streams.tasks}`,
        JSON.stringify({
          stream_name: streams.tasks,
          config: { ack_policy: "none", filter_subject: subjects.treInbound(tre), inactive_threshold: 5e9 },
        }),
        { timeout: 5_000 },
      );
      return (JSON.parse(m.string()) as { num_pending?: number }).num_pending;
    };
    expect(await pendingFor("a")).toBeGreaterThan(0);
    const bPending = await pendingFor("b");
    tally.add(
      category,
      "a consumer on a's TASKS for b's tasks",
      refusedIf(bPending === 0, "b's tasks are not in a's account", `${bPending} of b's tasks`),
    );
    const listening = collect(leaf.dmz, "tremesh.tre.b.>");
    await leaf.dmz.flush();
    const bBeats = collect(nc.admin, subjects.heartbeat("b"));
    await waitFor("two of b's heartbeats at the hub", () => bBeats.messages.length >= 2, {
      timeoutMs: 10_000,
    });
    tally.add(
      category,
      "a's DMZ listening to b's subjects",
      refusedIf(listening.messages.length === 0, "nothing of b's reaches a", listening.subjects().join(",")),
    );
    listening.subscription.unsubscribe();
    bBeats.subscription.unsubscribe();

    // bob, a registered researcher, after alice's task and results.
    const hubError = async (call: () => Promise<unknown>): Promise<Outcome> => {
      try {
        return { accepted: JSON.stringify(await call()).slice(0, 200) };
      } catch (e) {
        const code = (e as { code?: string }).code;
        return code && code !== "no_answer" && code !== "unavailable"
          ? { refused: code }
          : { crashed: String(e) };
      }
    };
    for (const [what, call] of [
      ["bob reads alice's Releases", () => fetchReleases(nc.bob, k.bob, base.done)],
      ["bob reads alice's task", () => fetchTask(nc.bob, k.bob, base.pending)],
      ["bob cancels alice's task", () => cancelTask(nc.bob, k.bob, base.pending)],
    ] as const)
      tally.add(category, what, await hubError(call));
    for (const subject of [
      "_INBOX_alice.>",
      subjects.treOutbound("a"),
      subjects.treInbound("b"),
      "tremesh.>",
      "$JS.API.>",
    ]) {
      const bob = await fed.connect("bob");
      const closed = await Promise.race([
        bob.subscribe(subject).closed,
        sleep(5_000).then(() => "still subscribed"),
      ]);
      tally.add(
        category,
        `bob subscribes ${subject}`,
        refusedIf(/permissions violation/i.test(String(closed)), "permissions violation", String(closed)),
      );
    }
    tally.add(
      category,
      "bob reads a's results stream",
      await noRouteOutcome(nc.bob, `$JS.API.STREAM.INFO.${streams.results("a")}`),
    );
    const bobJs = await jsPublish(
      await fed.connect("bob"),
      { category, what: "", subject: subjects.dispatch("a", id()), bytes: new Uint8Array(8) },
      `cross.${id()}`,
    );
    tally.add(
      category,
      "bob publishes into a's TASKS",
      refusedIf(Boolean(bobJs.refusedAtPublish), "not published", "stored"),
    );

    // Reviewers: a's reviewer asking for b, b's reviewer's key at a, a's reviewer's login at b.
    const reviewQuery = (tre: string, key: SigningKey) =>
      sealEnvelope("reviewQuery", reviewQueryBody(rand, tre), key);
    await askEach(category, nc.ritaA, [
      ["a's reviewer asks a's airlock about TRE b", subjects.airlockQuery, reviewQuery("b", k.ritaA)],
      ["b's reviewer's key at a's airlock", subjects.airlockQuery, reviewQuery("a", k.ritaB)],
    ]);
    const ritaA = await fed.profile("reviewer-a-rita");
    const pass = ritaA.auth.type === "password" ? ritaA.auth.password : "";
    tally.add(
      category,
      "a's reviewer's login at b's leaf",
      await loginOutcome(
        { servers: fed.files.leafClientUrls.b!, user: ritaA.user, pass },
        "b's leaf took a's reviewer's login",
      ),
    );
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("path traversal: a TRE's hostile file names are saved as plain names inside the researcher's folder", async () => {
    const category = "path traversal";
    const { rand, id } = seeded(8);
    const names = [
      "../../etc/passwd",
      "/etc/passwd",
      "..",
      ".",
      "../",
      "a/../../b.txt",
      "..\\..\\windows\\win.ini",
      "C:\\evil.txt",
      "~/.ssh/authorized_keys",
      ".bashrc",
      "-rf",
      "a\u0000b.txt",
      "\u0000",
      "name\nwith\nnewlines",
      "\u001b[31mred\u001b[0m.txt",
      "\u202etxt.exe",
      "%2e%2e%2fescape",
      "x".repeat(200),
      "report.csv",
      "REPORT.csv",
      "nested/dir/file.txt",
      "/",
    ];
    // TRE a, compromised, releases files with these names for alice's task it refused to run (so the Release is the first).
    const outputs = names.map((name, i) => {
      const data = new TextEncoder().encode(`file ${i}\n`);
      return { outputId: id(), name, mediaType: "text/plain", digest: sha256(data), data };
    });
    const release = sealEnvelope(
      "release",
      {
        ...releaseBody(rand, base.files),
        decisions: outputs.map((o) =>
          sealEnvelope("decision", decisionBody(rand, base.files, "a", o), k.treA),
        ),
        outputs,
      },
      k.treA,
    );
    await jetstream(leafOf("a").dmz).publish(subjects.release("a", base.files), release, {
      msgID: `traversal.${id()}`,
    });
    forgedRelease.add(`${base.files}.a`);
    await waitFor(
      "the forged Release at the hub",
      async () => (await fetchReleases(nc.alice, k.alice, base.files)).length > 0,
    );

    const desk = join(fed.files.dir, "alice-desk");
    await mkdir(desk);
    const out = join(desk, "results");
    const r = await fed.cli(["results", base.files, "--save-files", out], "alice");
    expect(r.code, r.err.join("\n")).toBe(0);
    const written = await filesUnder(desk);
    const safe = uniqueSafeNames(names);
    const printed = [...r.out, ...r.err].join("\n");
    for (const [i, name] of names.entries()) {
      const path = join(out, "a", safe[i]!);
      const content = written.includes(path) ? await readFile(path, "utf8") : undefined;
      // One plain file name: no separator, no NUL, not `.`/`..` nor hidden; `..` inside a name is just characters.
      const plain = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(safe[i]!);
      tally.add(
        category,
        `a released file named ${JSON.stringify(name)}`,
        refusedIf(
          content === `file ${i}\n` && plain,
          "saved under a plain name inside the folder",
          `not at ${path}`,
        ),
      );
    }
    // Nothing anywhere else, nothing overwritten, and the names printed without the characters that act on a
    // terminal (NUL, escape sequences, a right-to-left override), which are shown as \u{…}.
    expect(written.sort()).toEqual(safe.map((n) => join(out, "a", n)).sort());
    expect(["\u0000", "\u001b", "\u202e"].filter((c) => printed.includes(c))).toEqual([]);
    expect(printed).toContain("\\u{202e}txt.exe");
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("SQL injection: hostile identifiers refused, hostile values bound as values, the database untouched", async () => {
    const category = "SQL injection";
    const { rand } = seeded(9);
    // Identifiers that carry SQL: refused by the hub's validation of the Submission.
    const identifiers: [string, unknown][] = [
      ["dataset name", { kind: "count", dataset: "patients; DROP TABLE patients; --" }],
      ["dataset name as a table function", { kind: "count", dataset: "read_csv('/etc/passwd')" }],
      [
        "group-by column",
        { kind: "count", dataset: "patients", groupBy: ['sex" FROM patients; DROP TABLE patients; --'] },
      ],
      [
        "filter column",
        { kind: "count", dataset: "patients", filters: [{ column: "1=1 OR sex", op: "eq", value: "F" }] },
      ],
      [
        "filter operator",
        {
          kind: "count",
          dataset: "patients",
          filters: [{ column: "sex", op: "= 'F' OR 1=1 --", value: "F" }],
        },
      ],
      ["summary column", { kind: "summary", dataset: "patients", column: "bmi) FROM patients --" }],
      ["crosstab rows", { kind: "crosstab", dataset: "patients", rows: "sex'", cols: "region" }],
      [
        "regression predictor",
        {
          kind: "regression",
          dataset: "patients",
          outcome: "bmi",
          predictors: ["age; DELETE FROM patients"],
        },
      ],
      [
        "histogram column",
        {
          kind: "histogram",
          dataset: "patients",
          column: "age/**/OR/**/1=1",
          bins: { min: 0, max: 1, count: 1 },
        },
      ],
    ];
    await askEach(
      category,
      nc.alice,
      identifiers.map(([what, analysis]) => [
        `${what} with SQL, through the hub`,
        subjects.submit,
        signRaw("submission", { ...submissionBody(rand), analysis }, k.alice),
      ]),
    );
    // The same, never past a hub: a compromised hub dispatches alice-signed submissions the hub would have refused.
    const toTre = new Sender(nc.admin, category, (s) => `sql.${s.agentTask}`);
    for (const [what, analysis] of identifiers.slice(0, 4))
      await forgeTask(toTre, rand, `${what} with SQL, dispatched by a compromised hub`, (t) => ({
        bytes: sealEnvelope(
          "dispatch",
          dispatchBody(
            rand,
            t,
            "a",
            signRaw("submission", { ...submissionBody(rand, t), analysis }, k.alice),
          ),
          k.hub,
        ),
      }));
    await settleIn(leafDead, toTre);

    // Plain identifiers the TRE does not allow: the hub cannot know a TRE's columns, TRE a refuses them.
    const notAllowed: [string, AnalysisSpec][] = [
      ["the identifier column", { kind: "count", dataset: "patients", groupBy: ["patient_id"] }],
      ["a column off the allow-list", { kind: "count", dataset: "patients", groupBy: ["postcode"] }],
      ["a system schema as dataset", { kind: "count", dataset: "information_schema" }],
      ["DuckDB's catalogue as dataset", { kind: "count", dataset: "duckdb_tables" }],
      [
        "rowid as a filter column",
        { kind: "count", dataset: "patients", filters: [{ column: "rowid", op: "gt", value: 0 }] },
      ],
      [
        "SQL text for a numeric column",
        { kind: "count", dataset: "patients", filters: [{ column: "age", op: "gt", value: "0 OR 1=1" }] },
      ],
      ["the identifier column in a summary", { kind: "summary", dataset: "patients", column: "patient_id" }],
    ];
    const refusedAtTre = await Promise.all(
      notAllowed.map(async ([what, spec]) => [what, await submitAs("alice", ["a"], spec)] as const),
    );
    for (const [what, taskId] of refusedAtTre) {
      const state = await waitForChild(taskId, "a", [
        "rejected",
        "released",
        "withheld",
        "executor_error",
        "outputs_pending_review",
      ]);
      const reason = (await fed.hub.services.tasks.children(taskId))[0]?.history.at(-1)?.reason ?? "";
      tally.add(
        category,
        `${what}, at TRE a`,
        refusedIf(state === "rejected" && reason.length > 0, "rejected by the TRE", `${state}: ${reason}`),
      );
    }

    // Where the COPY in one value would write the table; bound as a parameter, it is only text compared to regions.
    const leak = join(fed.files.dir, "leaked-patients.csv");
    // Values that carry SQL: bound as parameters, so each answer is the exact count of rows holding that text.
    const values: QuerySpec[] = [
      {
        kind: "count",
        dataset: "patients",
        filters: [{ column: "region", op: "eq", value: "city' OR '1'='1" }],
      },
      {
        kind: "count",
        dataset: "patients",
        filters: [
          {
            column: "region",
            op: "in",
            value: ["x'); DROP TABLE patients; --", "' UNION SELECT patient_id FROM patients --"],
          },
        ],
      },
      {
        kind: "count",
        dataset: "patients",
        groupBy: ["sex"],
        filters: [{ column: "sex", op: "ne", value: "F' --" }],
      },
      {
        kind: "count",
        dataset: "patients",
        filters: [{ column: "region", op: "eq", value: "$1; SELECT 1" }],
      },
      {
        kind: "count",
        dataset: "patients",
        filters: [{ column: "region", op: "eq", value: `'; COPY patients TO '${leak}'; --` }],
      },
    ];
    const bound = await Promise.all(
      values.map(async (spec) => [spec, await submitAs("alice", ["a"], spec)] as const),
    );
    for (const [spec, taskId] of bound) {
      await waitForChild(taskId, "a", ["released", "rejected", "withheld", "executor_error"]);
      let outcome: Outcome;
      try {
        const { cells } = await compareWithTruth(taskId, spec, rowsA);
        outcome = refusedIf(cells > 0, "bound as a value: the exact answer", "no cell to compare");
      } catch (e) {
        outcome = { accepted: `not the literal's answer: ${String(e)}` };
      }
      tally.add(category, `filter value ${JSON.stringify(spec.filters?.[0]?.value)}`, outcome);
    }
    await expect(stat(leak)).rejects.toMatchObject({ code: "ENOENT" });
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("an anonymous leaf, or one with a client's creds, is refused by the hub; a leaf's creds are no client login", async () => {
    const category = "anonymous leaf";
    // Over TLS with the federation's CA, which is public: an attacker has it too, and still has no credential.
    const hubLeafUrl = fed.hub.leafUrl.replace(/^nats-leaf:/, "tls:");
    const tls = { ca_file: join(fed.files.dir, "federation-ca.crt"), timeout: 5, handshake_first: true };
    const remotes: [string, ConfMap][] = [
      ["a leaf without credentials", { url: hubLeafUrl, tls }],
      [
        "a leaf presenting a researcher's creds",
        { url: hubLeafUrl, tls, credentials: join(fed.files.dir, "secrets", "alice.creds") },
      ],
    ];
    for (const [i, [what, remote]] of remotes.entries()) {
      const name = `hostile-leaf-${i}`;
      await using leaf = await startNatsServer({
        name,
        dir: join(fed.files.dir, name),
        configText: toNatsConf({
          server_name: name,
          host: "127.0.0.1",
          port: -1,
          http_port: -1,
          leafnodes: { remotes: [remote] },
        }),
      });
      const refused = await waitFor(
        "the hub to refuse the leaf",
        async () => /Authorization Violation/.test(await leaf.readLog()),
        { timeoutMs: 15_000 },
      ).then(
        () => true,
        () => false,
      );
      const linked = (await fetchLeafz(fed.hub.server.monitorUrl!)).leafs.some((l) => l.name === name);
      tally.add(
        category,
        what,
        refusedIf(refused && !linked, "Authorization Violation", linked ? "linked" : "no refusal in its log"),
      );
    }
    const linkCreds = await readFile(join(fed.files.dir, "secrets", "hub-link-a.creds"));
    const authenticator = credsAuthenticator(linkCreds);
    tally.add(
      category,
      "TRE a's leaf-link creds as a client connection",
      await loginOutcome(
        { servers: fed.files.hubClientUrl, tls: fed.hub.clientTls, authenticator },
        "connected",
      ),
    );
    await expectHealthyAndAllRefused(category);
  }, 120_000);

  it("after all of it: a legitimate task completes with the exact answer, and no hostile message left anything behind", async () => {
    const category = "replays";
    // b's reviewer approves the output held since the start, and the same signed decision is then replayed.
    const pending = (await showReview(nc.ritaB, k.ritaB, "b", base.pending)).outputs[0]!;
    const now = Date.now();
    const approval = sealEnvelope(
      "decision",
      {
        id: newId(now),
        iat: now,
        exp: now + DAY,
        taskId: base.pending,
        tre: "b",
        outputId: pending.outputId,
        outputDigest: pending.releasableDigest!,
        verdict: "approve",
      },
      k.ritaB,
    );
    await askTwice(category, "a reviewer's decision again", nc.ritaB, subjects.airlockDecide, approval, {
      accepted: expect.any(String),
    });
    await waitForChild(base.pending, "b", ["released"]);

    // A new task at both TREs, end to end: submitted, run, reviewed at b, released, combined exactly.
    const taskId = await submitAs("alice", ["a", "b"], COUNT);
    await waitForChild(taskId, "b", ["outputs_pending_review"]);
    const approved = await fed.cli(["airlock", "approve", taskId], "reviewer-b-rita");
    expect(approved.code, approved.err.join("\n")).toBe(0);
    await waitForChild(taskId, "a", ["released"]);
    await waitForChild(taskId, "b", ["released"]);
    for (const [task, rows] of [
      [taskId, [...rowsA, ...rowsB]],
      [base.pending, rowsB],
      [base.done, rowsA],
    ] as const) {
      const answer = await compareWithTruth(task, COUNT, rows);
      expect(answer.code).toBe(0);
      expect(answer.excluded).toEqual([]);
      expect(answer.cells).toBeGreaterThan(0);
    }

    // No task, Release or status that a legitimate party did not make.
    const kv = fed.hub.services.tasks.kv;
    const taskKeys: string[] = [];
    for await (const key of await kv.keys("task.>")) taskKeys.push(key.slice("task.".length));
    expect(taskKeys.sort()).toEqual([...expectedTasks].sort());
    const releaseKeys: string[] = [];
    for await (const key of await (await releaseKv()).keys()) releaseKeys.push(key);
    const released = new Set(forgedRelease);
    for (const t of expectedTasks)
      for (const c of await fed.hub.services.tasks.children(t))
        if (["released", "withheld", "partially_released"].includes(c.state)) released.add(`${t}.${c.tre}`);
    expect(releaseKeys.sort()).toEqual([...released].sort());
    // The baseline tasks' histories: unchanged, but for the approval of the one pending at b.
    expect(await fed.hub.services.tasks.children(base.done)).toEqual(baseline.get(base.done));
    expect(await fed.hub.services.tasks.children(base.files)).toEqual(baseline.get(base.files));
    const [was] = baseline.get(base.pending)!;
    const [is] = await fed.hub.services.tasks.children(base.pending);
    expect(is!.history.slice(0, was!.history.length)).toEqual(was!.history);
    expect(is!.history.slice(was!.history.length).map((h) => h.state)).toEqual(["released"]);
    const agentA = await agentStateAtA();
    expect((await agentA.get(base.done))?.history.map((h) => h.state)).toEqual(baselineAgentDone);

    // Every dead letter is one a hostile message earned (or a status the TRE sent about a task a compromised hub
    // forged, which the hub cannot know), and a's database file is as it was written.
    await hubDead.refresh();
    for (const r of hubDead.untaken())
      if (forgedTaskIds.has(r.subject.split(".").at(-1) ?? "")) hubDead.takeRecord(r);
    const untaken = (ledger: DeadLetterLedger) =>
      ledger.untaken().map((r) => `${r.subject.slice(0, 80)} ${r.code}: ${r.message}`);
    expect(untaken(hubDead)).toEqual([]);
    await leafDead.refresh();
    expect(untaken(leafDead)).toEqual([]);
    expect(sha256(await readFile(join(fed.files.dir, "patients-a.duckdb")))).toBe(duckdbDigest);
    const audit = await fed.cli(["audit", "verify", "--json"]);
    expect(audit.code, audit.err.join("\n")).toBe(0);
    expect((JSON.parse(audit.out[0]!) as { ok: boolean }).ok).toBe(true);

    tally.row("liveness after abuse");
    await health("liveness after abuse");
    console.log(
      `hostile-input suite, seed ${SEED}\n${tally.table()}\n\nwhat the refusals were:\n${tally.codes()}`,
    );
    if (process.env.TREMESH_HOSTILE_VERBOSE === "1") console.log(tally.caseList());
    for (const [name, row] of tally.rows) {
      expect(row.problems, name).toEqual([]);
      expect(row.crashed, name).toBe(0);
      expect(row.refused + row.byDesign, name).toBe(row.tried);
    }
  }, 180_000);
});

/** Every file under `dir`, as absolute paths. */
async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (!e.isDirectory()) out.push(join(e.parentPath, e.name));
  return out;
}
