/**
 * The deep fuzz run (`npm run fuzz`; not part of `npm test`): at least 100 000 generated envelopes against a real
 * federation (operator mode: the hub's nats-server and services, TREs a and b with their leaf servers and agents),
 * across every subject each party can publish to:
 *
 * - a researcher: the submission service, cancel and query (each answered with a refusal code and a reason);
 * - a compromised TRE: status events and Releases into its OUTBOX, which the hub sources, and heartbeats;
 * - a compromised hub: Dispatches and Cancels into TRE a's TASKS, which its leaf sources;
 * - a reviewer: TRE b's airlock (review queries and decisions).
 *
 * Cases are those of the hostile-input suite (test/harness/hostile.ts: random bytes, valid msgpack of the wrong
 * shape, a signed message of another type, signed bodies with hostile or huge fields, bit-flipped, truncated and
 * padded valid envelopes) plus signatures by a stranger, a trusted party's signature under another's name, and
 * valid envelopes on another task's subject. Every refusal must be on the record: a reply with a code and a reason,
 * or a dead letter with one (the hub's for what TREs send, TRE a's for what the hub sends), counted message by
 * message. After each category every process still runs and every service answers; a crash is any of: a process
 * gone, a service that does not answer, a consumer that stalls, a service's own error event, a message with no
 * record. At the end a legitimate task still gives the exact answer.
 *
 * Env: TREMESH_FUZZ_SCALE (default 1: 100 000 cases; 0.01 for a quick look), TREMESH_FUZZ_SEED (reproduces a run).
 * Exit 0 when nothing crashed and every case was refused; 1 otherwise.
 */
import { createHash } from "node:crypto";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sendSubmission, signSubmission } from "../aggregator/index.js";
import { waitFor } from "../common/index.js";
import {
  generatePatients,
  mulberry32,
  patientProfiles,
  writePatientsCsv,
  writePatientsDuckDb,
} from "../fixtures/index.js";
import { loadHubConfig } from "../hub/index.js";
import { AgentState } from "../leaf/agent-state.js";
import {
  generateKeyPair,
  type MessageType,
  type SigningKey,
  sealEnvelope,
  signingKeyFromSeed,
  streams,
  subjects,
} from "../protocol/index.js";
import {
  addProject,
  type Federation,
  registerResearchers,
  startFederation,
} from "../test/harness/federation.js";
import {
  DeadLetterLedger,
  type FuzzSource,
  fuzzCase,
  fuzzSource,
  inBatches,
  opensAs,
  pick,
  type Rand,
  requestOutcome,
  resignedBy,
  Sender,
  type Sent,
  seededId,
  settle,
  signRaw,
  Tally,
  trustOf,
  withFields,
} from "../test/harness/hostile.js";
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
} from "../test/harness/hostile-bodies.js";
import { hostileFederationOptions } from "../test/harness/hostile-federation.js";

const SCALE = Number(process.env.TREMESH_FUZZ_SCALE ?? 1);
const SEED = Number(process.env.TREMESH_FUZZ_SEED ?? 20261205);
/** Cases per subject at scale 1: 100 000 in all. */
const PLAN = {
  submit: 16_000,
  cancelRequest: 8_000,
  query: 8_000,
  status: 14_000,
  release: 10_000,
  heartbeat: 10_000,
  dispatch: 14_000,
  cancel: 8_000,
  airlockQuery: 6_000,
  airlockDecide: 6_000,
} as const;
const n = (k: keyof typeof PLAN) => Math.max(1, Math.round(PLAN[k] * SCALE));
/** Messages published before their dead letters are waited for: bounds what is held in memory at once. */
const BATCH = 2_000;
/** Of the suite's huge-field cases (hundreds of kB each), this share is kept: enough to test, not to fill disks. */
const HUGE_SHARE = 0.02;

const rowsA = generatePatients(patientProfiles.small, 91);

const tally = new Tally();
const errors: string[] = [];
let errorsSeen = 0;

interface Keys {
  alice: SigningKey;
  hub: SigningKey;
  treA: SigningKey;
  ritaB: SigningKey;
  stranger: SigningKey;
}

/**
 * One hostile case for a subject: the suite's (`fuzzCase`, with few huge ones), or one of this run's own — the
 * seed signed by a stranger, or by a trusted party other than the one its signer field names.
 */
function hostileCase(rand: Rand, source: FuzzSource, k: Keys): { kind: string; bytes: Uint8Array } {
  const r = rand();
  if (r < 0.05) {
    const seed = pick(rand, source.seeds());
    return { kind: "signed by a stranger", bytes: resignedBy(seed, k.stranger) };
  }
  if (r < 0.1) {
    const seed = pick(rand, source.seeds());
    const other = pick(
      rand,
      [k.alice, k.hub, k.treA, k.ritaB].filter((key) => key.publicKey !== source.body().key.publicKey),
    );
    return {
      kind: "another party's key in the signer field",
      bytes: withFields(seed, { signer: other.publicKey }),
    };
  }
  for (;;) {
    const c = fuzzCase(rand, source);
    if (!c.kind.endsWith("huge") || rand() < HUGE_SHARE) return c;
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const onUnhandled = (reason: unknown) => errors.push(`unhandled rejection: ${String(reason)}`);
  process.on("unhandledRejection", onUnhandled);
  await using fed = await startFederation(hostileFederationOptions(["alice"], errors));
  await writePatientsDuckDb(rowsA, join(fed.files.dir, "patients-a.duckdb"));
  await writePatientsCsv(generatePatients(patientProfiles.small, 92), join(fed.files.dir, "patients-b.csv"));
  await fed.startLeaf("a");
  await fed.startLeaf("b");
  await registerResearchers(fed, ["alice"]);
  await addProject(fed, { project: "study", tres: ["a", "b"], members: ["alice"] });
  const key = async (profile: string) => (await fed.profile(profile)).key!;
  const k: Keys = {
    alice: await key("alice"),
    hub: (await loadHubConfig(fed.files.hubConfig)).hubKey,
    treA: fed.leaves.get("a")!.config.treKey,
    ritaB: await key("reviewer-b-rita"),
    stranger: signingKeyFromSeed(generateKeyPair("user").seed),
  };
  const nc = {
    alice: await fed.connect("alice"),
    admin: await fed.connect("admin"),
    ritaB: await fed.connect("reviewer-b-rita"),
  };
  const hubDead = new DeadLetterLedger(fed.hub.services.jsm);
  const leafDead = new DeadLetterLedger(fed.leaves.get("a")!.ctrlJsm);
  // A task of alice's at each TRE, so cancels, queries and decisions have real targets to be hostile about.
  const done = await submitAs(nc.alice, k.alice, ["a"]);
  const pending = await submitAs(nc.alice, k.alice, ["b"]);
  await waitFor(
    "the baseline task released at a",
    async () => (await childState(fed, done, "a")) === "released",
    {
      timeoutMs: 120_000,
    },
  );
  await waitFor(
    "the baseline task pending review at b",
    async () => (await childState(fed, pending, "b")) === "outputs_pending_review",
    { timeoutMs: 120_000 },
  );
  // What decisions name: an output no task has (a valid decision about it is refused as unknown, and redrawn).
  const target = { outputId: seededId(mulberry32(SEED - 1)), digest: "0".repeat(64) };
  const setUpMs = Date.now() - started;
  const seeded = (i: number) => mulberry32(SEED + i);

  // --- a researcher → the hub's services ----------------------------------------------------------------
  {
    const category = "researcher → hub services";
    const rand = seeded(0);
    const researcher = trustOf({ key: k.alice, role: "researcher" });
    const signed = () => [
      sealEnvelope("submission", submissionBody(rand), k.alice),
      sealEnvelope("query", queryBody(rand), k.alice),
      sealEnvelope("cancelRequest", cancelRequestBody(rand, done), k.alice),
      signRaw("dispatch", dispatchBodyOf(rand, seededId(rand), "a", new Uint8Array(8)), k.alice),
      signRaw("status", statusBody(rand, done), k.alice),
    ];
    const source = (type: MessageType, own: number, body: () => Record<string, unknown>) =>
      fuzzSource(type, k.alice, body, () => signed().filter((_, i) => i !== own), opensAs(researcher, type));
    for (const [subject, count, src] of [
      [subjects.submit, n("submit"), source("submission", 0, () => submissionBody(rand))],
      [
        subjects.cancelRequest,
        n("cancelRequest"),
        source("cancelRequest", 2, () => cancelRequestBody(rand, pending)),
      ],
      [subjects.query, n("query"), source("query", 1, () => queryBody(rand, done))],
    ] as const) {
      for (let i = 0; i < count; i += BATCH) {
        const cases = Array.from({ length: Math.min(BATCH, count - i) }, () => hostileCase(rand, src, k));
        await inBatches(cases, 32, async (c) =>
          tally.add(category, `${subject}: ${c.kind}`, await requestOutcome(nc.alice, subject, c.bytes)),
        );
      }
      progress(category, started);
    }
    await health(fed, nc, category);
  }

  // --- a compromised TRE → the hub (OUTBOX, heartbeats) ------------------------------------------------------
  {
    const category = "TRE → hub (OUTBOX, heartbeat)";
    const rand = seeded(1);
    const leaf = fed.leaves.get("a")!;
    const treTrust = trustOf({ key: k.treA, role: "tre", tre: "a" });
    const wrongTypes = (taskId: string, not: string) =>
      (
        [
          ["status", () => sealEnvelope("status", statusBody(rand, taskId), k.treA)],
          ["release", () => sealEnvelope("release", releaseBody(rand, taskId), k.treA)],
          ["heartbeat", () => sealEnvelope("heartbeat", heartbeatBody(rand), k.treA)],
          ["submission", () => sealEnvelope("submission", submissionBody(rand), k.alice)],
        ] as const
      )
        .filter(([type]) => type !== not)
        .map(([, make]) => make());
    const source = (type: "status" | "release" | "heartbeat", taskId: string): FuzzSource => {
      const body = () =>
        type === "status"
          ? statusBody(rand, taskId)
          : type === "release"
            ? releaseBody(rand, taskId)
            : heartbeatBody(rand);
      const legit = type === "heartbeat" ? opensAs(treTrust, "heartbeat", "a") : undefined;
      return fuzzSource(type, k.treA, body, () => wrongTypes(taskId, type), legit);
    };
    for (const type of ["status", "release"] as const) {
      const count = n(type);
      for (let i = 0; i < count; i += BATCH) {
        const toHub = new Sender(leaf.dmz, category, byContent);
        const cases = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => {
          const taskId = seededId(rand);
          const c = hostileCase(rand, source(type, taskId), k);
          // One in twenty a valid envelope about one task on the subject of another.
          if (j % 20 === 19) {
            const valid = sealEnvelope(
              type,
              (type === "status" ? statusBody : releaseBody)(rand, taskId) as never,
              k.treA,
            );
            return {
              what: `${type}: valid, on another task's subject`,
              subject: subjects[type]("a", seededId(rand)),
              bytes: valid,
            };
          }
          return { what: `${type}: ${c.kind}`, subject: subjects[type]("a", taskId), bytes: c.bytes };
        });
        await inBatches(cases, 32, (s) => toHub.js(s.what, s.subject, s.bytes));
        await settleIn(hubDead, toHub);
      }
      progress(category, started);
    }
    for (let i = 0; i < n("heartbeat"); i += BATCH) {
      const toHub = new Sender(leaf.dmz, category, byContent);
      for (let j = 0; j < Math.min(BATCH, n("heartbeat") - i); j++) {
        const c = hostileCase(rand, source("heartbeat", seededId(rand)), k);
        toHub.core(`heartbeat: ${c.kind}`, subjects.heartbeat("a"), c.bytes);
      }
      await settleIn(hubDead, toHub);
    }
    progress(category, started);
    await health(fed, nc, category);
  }

  // --- a compromised hub → TRE a (TASKS) -----------------------------------------------------------------
  {
    const category = "hub → TRE (TASKS)";
    const rand = seeded(2);
    const hubTrust = trustOf({ key: k.hub, role: "hub" });
    const agentAtA = await AgentState.open(jetstream(fed.leaves.get("a")!.ctrl));
    const agentRejected = async (taskId: string) => {
      const t = await agentAtA.get(taskId);
      return t?.state === "rejected" ? t.history.at(-1)?.reason : undefined;
    };
    for (const type of ["dispatch", "cancel"] as const) {
      const other = type === "dispatch" ? "cancel" : "dispatch";
      const count = n(type);
      for (let i = 0; i < count; i += BATCH) {
        const toTre = new Sender(nc.admin, category, byContent);
        const cases = Array.from({ length: Math.min(BATCH, count - i) }, (_, j) => {
          const taskId = seededId(rand);
          const submission = () => sealEnvelope("submission", submissionBody(rand, taskId), k.alice);
          const body = (t: "dispatch" | "cancel") =>
            t === "dispatch"
              ? dispatchBodyOf(rand, taskId, "a", submission())
              : cancelBody(rand, taskId, "a", "fuzz");
          const wrongTypes = () => [
            sealEnvelope(other, body(other) as never, k.hub),
            sealEnvelope("status", statusBody(rand, taskId), k.treA),
            sealEnvelope("submission", submissionBody(rand, taskId), k.alice),
            sealEnvelope("heartbeat", heartbeatBody(rand), k.treA),
          ];
          // A Cancel the hub's key signed, schema-valid, is the hub's word: not hostile to the TRE.
          const legit = type === "cancel" ? opensAs(hubTrust, "cancel", "a") : undefined;
          const c = hostileCase(
            rand,
            fuzzSource(type, k.hub, () => body(type), wrongTypes, legit),
            k,
          );
          if (j % 20 === 19 && type === "dispatch") {
            // A valid Dispatch of one task on another task's subject.
            const valid = sealEnvelope("dispatch", body("dispatch") as never, k.hub);
            return {
              what: "dispatch: valid, on another task's subject",
              subject: subjects.dispatch("a", seededId(rand)),
              bytes: valid,
              taskId,
            };
          }
          return { what: `${type}: ${c.kind}`, subject: subjects[type]("a", taskId), bytes: c.bytes, taskId };
        });
        await inBatches(cases, 32, (s) => toTre.js(s.what, s.subject, s.bytes, { agentTask: s.taskId }));
        await toTre.flush();
        await settle(tally, leafDead, toTre.sent, { agentRejected, timeoutMs: 300_000 });
      }
      progress(category, started);
    }
    await health(fed, nc, category);
  }

  // --- a reviewer → TRE b's airlock ----------------------------------------------------------------------
  {
    const category = "reviewer → airlock";
    const rand = seeded(3);
    const reviewer = trustOf({ key: k.ritaB, role: "reviewer", tre: "b" });
    const signed = () => [
      sealEnvelope("reviewQuery", reviewQueryBody(rand, "b", "show") as never, k.ritaB),
      signRaw("decision", decisionBody(rand, pending, "b", target, "reject"), k.ritaB),
      sealEnvelope("submission", submissionBody(rand), k.alice),
    ];
    for (const [subject, count, src] of [
      [
        subjects.airlockQuery,
        n("airlockQuery"),
        fuzzSource(
          "reviewQuery",
          k.ritaB,
          () => ({ ...reviewQueryBody(rand, "b", "show"), taskId: pending }),
          () => signed().filter((_, i) => i !== 0),
          opensAs(reviewer, "reviewQuery", "b"),
        ),
      ],
      [
        subjects.airlockDecide,
        n("airlockDecide"),
        // A valid decision is redrawn (`legit`): what is left fails the envelope's or the decision's checks.
        fuzzSource(
          "decision",
          k.ritaB,
          () => decisionBody(rand, seededId(rand), "b", target),
          () => signed().filter((_, i) => i !== 1),
          opensAs(reviewer, "decision", "b"),
        ),
      ],
    ] as const) {
      for (let i = 0; i < count; i += BATCH) {
        const cases = Array.from({ length: Math.min(BATCH, count - i) }, () => hostileCase(rand, src, k));
        await inBatches(cases, 32, async (c) =>
          tally.add(category, `${subject}: ${c.kind}`, await requestOutcome(nc.ritaB, subject, c.bytes)),
        );
      }
      progress(category, started);
    }
    await health(fed, nc, category);
  }
  const fuzzMs = Date.now() - started - setUpMs;

  // --- after all of it: a legitimate task, exact -----------------------------------------------------------
  const exact = await legitimateTaskExact(fed, nc.alice, k.alice);
  await hubDead.refresh();
  await leafDead.refresh();
  process.off("unhandledRejection", onUnhandled);

  const rows = [...tally.rows.values()];
  const tried = rows.reduce((t, r) => t + r.tried, 0);
  const crashed = rows.reduce((t, r) => t + r.crashed, 0);
  const notRefused = rows.reduce((t, r) => t + r.tried - r.refused - r.byDesign - r.crashed, 0);
  console.log(`\ntremesh fuzz — seed ${SEED}, scale ${SCALE}, ${new Date().toISOString().slice(0, 10)}`);
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  console.log(`set-up ${(setUpMs / 1000).toFixed(0)} s, fuzzing ${(fuzzMs / 1000).toFixed(0)} s\n`);
  console.log(tally.table());
  console.log(`\nrefusal codes:\n${tally.codes()}`);
  console.log(`\ndead letters: hub ${hubDead.records.length}, TRE a ${leafDead.records.length}`);
  console.log(`legitimate task afterwards: ${exact}`);
  for (const r of rows) for (const p of r.problems.slice(0, 20)) console.log(`PROBLEM ${p}`);
  const ok =
    crashed === 0 && notRefused === 0 && tried >= Math.round(100_000 * SCALE) && exact.startsWith("exact");
  console.log(ok ? "\nOK" : "\nFAILED");
  process.exitCode = ok ? 0 : 1;
}

/** A fuzz case's message id, from its bytes and subject: a case drawn twice is one message to JetStream. */
const byContent = (s: Sent) => `fuzz.${hash(s.bytes)}.${hash(s.subject)}`;
const hash = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

async function settleIn(ledger: DeadLetterLedger, sender: Sender): Promise<void> {
  await sender.flush();
  await settle(tally, ledger, sender.sent, { timeoutMs: 300_000 });
}

function progress(category: string, started: number): void {
  const r = tally.row(category);
  console.error(
    `${((Date.now() - started) / 1000).toFixed(0)} s  ${category}: ${r.tried} tried, ${r.crashed} crashed`,
  );
}

async function submitAs(conn: NatsConnection, key: SigningKey, tres: string[]): Promise<string> {
  const reply = await sendSubmission(
    conn,
    signSubmission(key, { project: "study", tres, analysis: HOSTILE_COUNT }),
  );
  if (reply.status !== "accepted") throw new Error(`submission refused: ${reply.code} ${reply.message}`);
  return reply.taskId;
}

async function childState(fed: Federation, taskId: string, tre: string): Promise<string | undefined> {
  return (await fed.hub.services.tasks.children(taskId)).find((c) => c.tre === tre)?.state;
}

/**
 * After a category: both leaf servers and the hub's run, every service answers, the consumers have drained, and no
 * service reported an error of its own. Anything else is a crash of that category.
 */
async function health(
  fed: Federation,
  nc: { alice: NatsConnection; ritaB: NatsConnection },
  category: string,
): Promise<void> {
  const problems: string[] = [];
  if (!fed.hub.server.running) problems.push("the hub's nats-server exited");
  for (const [tre, leaf] of fed.leaves)
    if (!leaf.server.running) problems.push(`${tre}'s leaf nats-server exited`);
  const submit = await requestOutcome(nc.alice, subjects.submit, new Uint8Array([0xc1]));
  if (!("refused" in submit)) problems.push(`the submission service: ${JSON.stringify(submit)}`);
  const airlock = await requestOutcome(nc.ritaB, subjects.airlockQuery, new Uint8Array([0xc1]));
  if (!("refused" in airlock)) problems.push(`b's airlock: ${JSON.stringify(airlock)}`);
  const drained = async (
    what: string,
    info: () => Promise<{ num_pending: number; num_ack_pending: number }>,
  ) => {
    await waitFor(
      `${what} to drain`,
      async () => {
        const i = await info();
        return i.num_pending === 0 && i.num_ack_pending === 0;
      },
      { timeoutMs: 120_000, intervalMs: 500 },
    ).catch(() => problems.push(`${what} stalled`));
  };
  await drained("the hub's status consumer", () =>
    fed.hub.services.jsm.consumers.info(streams.fedResults, "hub-status"),
  );
  for (const [tre, leaf] of fed.leaves)
    await drained(`${tre}'s agent consumer`, () => leaf.dmzJsm.consumers.info(streams.inbox, "agent"));
  for (const e of errors.slice(errorsSeen)) problems.push(e);
  errorsSeen = errors.length;
  for (const p of problems) tally.crash(category, p);
}

/** A new count by sex at TRE a, released by itself, against the truth of a's rows: "exact" or what differs. */
async function legitimateTaskExact(fed: Federation, conn: NatsConnection, key: SigningKey): Promise<string> {
  const taskId = await submitAs(conn, key, ["a"]);
  await waitFor(
    "the legitimate task to complete",
    async () => (await childState(fed, taskId, "a")) === "released",
    {
      timeoutMs: 180_000,
    },
  );
  const r = await fed.cli(["aggregate", taskId, "--json"], "alice");
  const doc = JSON.parse(r.out.join("\n")) as {
    outputs: {
      result: { cells: { key: unknown[]; combined: { low: number; high: number | null } }[] };
    }[];
  };
  const truth = new Map<string, number>();
  for (const row of rowsA) truth.set(row.sex, (truth.get(row.sex) ?? 0) + 1);
  const cells = doc.outputs[0]?.result.cells ?? [];
  const got = new Map(cells.map((c) => [String(c.key[0]), c.combined]));
  const wrong = [...truth].filter(
    ([sex, count]) => got.get(sex)?.low !== count || got.get(sex)?.high !== count,
  );
  return wrong.length === 0 && cells.length === truth.size
    ? `exact (${[...truth].map(([s, c]) => `${s} ${c}`).join(", ")})`
    : `WRONG: expected ${JSON.stringify([...truth])}, got ${JSON.stringify([...got])}`;
}

await main();
