/**
 * A hub of three clustered nodes, built as `tremesh admin init --node …` writes it: every hub stream and bucket
 * is kept on all three, the TREs' leaves and the researcher's profile list every node, and killing the node that
 * leads the streams (SIGKILL, its services with it) while tasks are in flight loses no task, runs none twice and
 * releases none twice. The answers stay exact.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AuditRecord, decodeAuditRecord } from "../audit/index.js";
import { readCredsFile, waitFor } from "../common/index.js";
import { generatePatients, type PatientRow, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import type { HubNode } from "../hub/index.js";
import { AgentState } from "../leaf/agent-state.js";
import { type AnalysisSpec, streams, subjects, type TaskView } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { countBy } from "./harness/fault-evidence.js";
import { approveProject, type Federation, startFederation, taskView } from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { referenceOutput } from "./harness/reference-stats.js";
import { storedEntries } from "./harness/stream-contents.js";

const TRES = ["a", "b"];
const rows: Record<string, PatientRow[]> = {
  a: generatePatients(patientProfiles.north, 31),
  b: generatePatients(patientProfiles.south, 32),
};
const COUNT: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };
const truth = referenceOutput(COUNT as never, [...rows.a!, ...rows.b!]);

let fed: Federation;
let countFile: string;
/** What the hub nodes' status trackers refused or failed at, for a failure message. */
const trackerTrouble: string[] = [];

beforeAll(async () => {
  fed = await startFederation({
    tres: TRES,
    hubNodes: 3,
    heartbeatIntervalMs: 500,
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "study", autoRelease: true }),
    startLeaves: [],
    onHubEvent: (e) => {
      if (e.service !== "status") return;
      const ev = e.event;
      if (ev.type === "error")
        trackerTrouble.push(`error: ${ev.error.message} (${String(ev.error.cause ?? "")})`);
      if (ev.type === "refused") trackerTrouble.push(`refused ${ev.subject}: ${ev.code} ${ev.reason}`);
    },
  });
  for (const tre of TRES) await writePatientsCsv(rows[tre]!, join(fed.files.dir, `patients-${tre}.csv`));
  for (const tre of TRES) await fed.startLeaf(tre);
  await approveProject(fed, { project: "study", tres: TRES, members: ["alice"] });
  countFile = join(fed.files.dir, "count.json");
  await writeFile(countFile, JSON.stringify(COUNT));
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

/** The hub's operations user in TRE `tre`'s account (the creds `admin add-tre` left for the hub). */
async function treJsm(tre: string): Promise<JetStreamManager> {
  const creds = await readCredsFile(join(fed.files.adminDir!, "hub", "tre-creds", `${tre}.creds`));
  const nc = await connect({
    servers: fed.hubs.filter((h) => h.server.running).map((h) => h.clientUrl),
    tls: fed.hub.clientTls,
    authenticator: credsAuthenticator(creds.bytes),
  });
  afterAll(() => nc.close());
  return jetstreamManager(nc);
}

async function fedJsm(): Promise<JetStreamManager> {
  return jetstreamManager(await fed.connect("admin"));
}

/** `tremesh submit` as alice; it asks a hub that is electing leaders again itself, with the same Submission. */
async function submit(): Promise<string> {
  const r = await fed.cli(["submit", "--project", "study", "--tres", TRES.join(","), countFile], "alice");
  if (r.code !== 0) throw new Error(`submit exited ${r.code}: ${r.err.join(" ")}`);
  return r.out[0]!;
}

/** The exact combined count, as `tremesh aggregate --json` prints it. */
async function expectExactAnswer(taskId: string): Promise<void> {
  const r = await fed.cli(["aggregate", taskId, "--json"], "alice");
  expect(r.code, r.err.join("\n")).toBe(0);
  const doc = JSON.parse(r.out.join("\n")) as { outputs: { result: Record<string, unknown> }[] };
  expect(expectMatchesTruth(doc.outputs[0]!.result, truth, { exact: true })).toBeGreaterThan(0);
}

describe("a three-node hub cluster", () => {
  it("keeps every hub stream and bucket on all three nodes, and runs a task end to end", async () => {
    const fedStreams = [];
    for await (const info of (await fedJsm()).streams.list()) fedStreams.push(info);
    // The FED view, audit, dead letters, and the registry, task, release and liveness buckets.
    expect(fedStreams.map((s) => s.config.name).sort()).toEqual(
      expect.arrayContaining([streams.fedResults, streams.audit, "DEADLETTER", "KV_REGISTRY"]),
    );
    for (const s of fedStreams) {
      expect([s.config.name, s.config.num_replicas]).toEqual([s.config.name, 3]);
      await waitFor(`${s.config.name} on three nodes`, async () => {
        const info = await (await fedJsm()).streams.info(s.config.name);
        return (info.cluster?.replicas ?? []).filter((r) => r.current).length === 2;
      });
    }
    const tasks = await (await treJsm("a")).streams.info(streams.tasks);
    expect(tasks.config.num_replicas).toBe(3);
    expect(tasks.cluster?.replicas).toHaveLength(2);

    const taskId = await submit();
    const views = new Map<string, TaskView>();
    await waitFor(
      "the task to complete",
      async () => {
        views.set(taskId, await taskView(fed, taskId));
        return views.get(taskId)?.state === "completed";
      },
      // A leaf's results source that the stream's leader asked for before the leaf linked resumes only when
      // nats-server's 30 s consumer request gives up (common/source-restarts.ts): room for that, on a busy machine.
      { timeoutMs: 90_000 },
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await failoverEvidence([taskId], views)}`);
    });
    await expectExactAnswer(taskId);
  });

  it("loses, repeats and double-releases nothing when the node leading the streams is killed under load", async () => {
    const victim = await streamLeader();
    const victimName = await nodeName(victim);
    const submitted: string[] = [];
    const refusedDuringFailover: string[] = [];
    const TOTAL = 24;
    for (let i = 0; i < TOTAL; i++) {
      if (i === 8) {
        // The node dies as a machine does: its nats-server by SIGKILL, its hub services with it.
        process.kill(victim.server.pid, "SIGKILL");
        await victim.stop();
      }
      // A submission refused while the cluster elects new leaders says so; the researcher submits again.
      const id = await waitFor(
        "a submission the cluster accepts",
        async () =>
          submit().catch((e: Error) => {
            refusedDuringFailover.push(e.message);
            return undefined;
          }),
        { timeoutMs: 60_000, intervalMs: 250 },
      );
      submitted.push(id);
    }

    const views = new Map<string, TaskView>();
    await waitFor(
      `all ${TOTAL} tasks to complete after the failover`,
      async () => {
        for (const id of submitted.filter((t) => views.get(t)?.state !== "completed"))
          views.set(id, await taskView(fed, id));
        return submitted.every((t) => views.get(t)?.state === "completed");
      },
      // A killed node's unacknowledged events come back only after the consumer's 30 s ack wait, on a cluster that
      // is still re-electing leaders: room for that twice over on a busy machine.
      { timeoutMs: 150_000, intervalMs: 500 },
    ).catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await failoverEvidence(submitted, views)}`);
    });

    // No task lost: every task the hub holds (a submission retried after an unanswered first try included)
    // completed at both TREs.
    // Read from the stream's own subject counts (no consumer: the cluster is still re-electing consumer leaders).
    const held = await waitFor("the hub's task list", async () => {
      const info = await (await fedJsm()).streams.info("KV_TASK_STATE", {
        subjects_filter: "$KV.TASK_STATE.task.>",
      });
      return Object.keys(info.state.subjects ?? {}).map((s) => s.slice("$KV.TASK_STATE.task.".length));
    });
    expect(held).toEqual(expect.arrayContaining(submitted));
    for (const id of held) {
      const view = views.get(id) ?? (await taskView(fed, id));
      expect([id, view.children.map((c) => c.state)]).toEqual([id, ["released", "released"]]);
    }

    for (const tre of TRES) {
      // None run twice: the agent's record of each task shows one `running`.
      const state = await AgentState.open(jetstream(fed.leaves.get(tre)!.ctrl));
      for (const id of held) {
        const record = await state.get(id);
        expect([tre, id, record?.history.filter((h) => h.state === "running").length]).toEqual([tre, id, 1]);
      }
    }
    // None released twice. Each TRE sent one Release per task, and the hub recorded one. The federation's view may
    // hold a second copy of a message: a source whose stream changed leader resumes from what the new leader knows,
    // and the view's duplicate window is nats-server's shortest (hub/streams.ts). Every such copy is the same
    // signed bytes, which the hub refuses as a replay; a different second Release would be a bug.
    const view = await storedEntries(await fedJsm(), streams.fedResults);
    // A node killed between storing a Release and recording it leaves the record to the Release's redelivery,
    // after the consumer's 30 s ack wait.
    let missing: string[] = [];
    const received = await waitFor(
      "the hub's record of every Release",
      async () => {
        const records = await auditByRead(await fedJsm());
        const counts = countBy(records, "release.received", (r) => `${r.taskId}.${r.tre}`);
        missing = held.flatMap((id) => TRES.map((tre) => `${id}.${tre}`)).filter((k) => !counts.has(k));
        return missing.length === 0 ? counts : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    ).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; no release.received for ${missing.join(", ")}\n${trackerTrouble.join("\n")}`,
      );
    });
    for (const tre of TRES) {
      const outbox = await storedEntries(fed.leaves.get(tre)!.dmzJsm, streams.outbox);
      for (const id of held) {
        const subject = subjects.release(tre, id);
        expect([tre, id, outbox.filter((e) => e.subject === subject).length]).toEqual([tre, id, 1]);
        expect([tre, id, received.get(`${id}.${tre}`)]).toEqual([tre, id, 1]);
        const copies = new Set(view.filter((e) => e.subject === subject).map((e) => e.data));
        expect([tre, id, copies.size]).toEqual([tre, id, 1]);
      }
    }
    for (const id of submitted.slice(0, 3)) await expectExactAnswer(id);
    for (const id of submitted.slice(-3)) await expectExactAnswer(id);
    console.log(
      `hub cluster failover: killed ${victimName}; ` +
        `${TOTAL} tasks, ${held.length} held by the hub, ${refusedDuringFailover.length} submissions refused ` +
        "during the failover and resubmitted",
    );
  }, 330_000);
});

/** Where unfinished tasks stand, and how far each TRE's results reached the hub, for a failure message. */
async function failoverEvidence(submitted: readonly string[], views: Map<string, TaskView>): Promise<string> {
  const states = (id: string) => views.get(id)?.children.map((c) => `${c.tre} ${c.state}`);
  const lines = submitted
    .filter((id) => views.get(id)?.state !== "completed")
    .map((id) => `${id}: ${states(id)?.join(", ") ?? "no view"}`);
  // Whether the TREs' events reached the FED view, and whether the hub's status tracker took them from it.
  const jsm = await fedJsm();
  const view = await jsm.streams.info(streams.fedResults).catch((e: Error) => e);
  const tracker = await jsm.consumers.info(streams.fedResults, "hub-status").catch((e: Error) => e);
  lines.push(
    view instanceof Error
      ? `FED view unreadable (${view.message})`
      : `FED view ${view.state.messages} (leader ${view.cluster?.leader}, sources ${JSON.stringify(
          view.sources?.map((src) => ({
            name: src.name,
            lag: src.lag,
            active: src.active,
            error: src.error,
          })),
        )})`,
    tracker instanceof Error
      ? `status tracker unreadable (${tracker.message})`
      : `status tracker: ${tracker.num_pending} pending, ${tracker.num_ack_pending} unacknowledged, ${tracker.num_redelivered} redelivered, last delivered ${tracker.delivered.stream_seq}`,
  );
  for (const tre of TRES) {
    const hub = await (await treJsm(tre)).streams.info(streams.results(tre)).catch((e: Error) => e);
    const outbox = await fed.leaves.get(tre)!.dmzJsm.streams.info(streams.outbox);
    lines.push(
      hub instanceof Error
        ? `${tre}: RESULTS unreadable (${hub.message}); OUTBOX ${outbox.state.messages}`
        : `${tre}: RESULTS ${hub.state.messages} (leader ${hub.cluster?.leader}, sources ${JSON.stringify(hub.sources)}); OUTBOX ${outbox.state.messages}`,
    );
  }
  return lines.join("\n");
}

/** The hub's audit records, read one by one by sequence: no consumer, which a re-electing cluster may not serve. */
async function auditByRead(jsm: JetStreamManager): Promise<AuditRecord[]> {
  const { state } = await jsm.streams.info(streams.audit);
  const records: AuditRecord[] = [];
  for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(streams.audit, { seq });
    const decoded = msg ? decodeAuditRecord(msg.data) : undefined;
    if (decoded?.ok) records.push(decoded.record);
  }
  return records;
}

/** The running node that leads the most of the hub's streams (FED's and TRE a's TASKS). */
async function streamLeader(): Promise<HubNode> {
  const leaders = new Map<string, number>();
  const fedStreams = await fedJsm();
  for await (const info of fedStreams.streams.list()) {
    const leader = info.cluster?.leader ?? "";
    leaders.set(leader, (leaders.get(leader) ?? 0) + 1);
  }
  const tasks = await (await treJsm("a")).streams.info(streams.tasks);
  leaders.set(tasks.cluster?.leader ?? "", (leaders.get(tasks.cluster?.leader ?? "") ?? 0) + 1);
  const [name] = [...leaders].sort((x, y) => y[1] - x[1])[0]!;
  for (const node of fed.hubs) if ((await nodeName(node)) === name) return node;
  throw new Error(`no hub node named ${name}`);
}

async function nodeName(node: HubNode): Promise<string> {
  return ((await (await fetch(`${node.server.monitorUrl}/varz`)).json()) as { server_name: string })
    .server_name;
}
