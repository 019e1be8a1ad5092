/**
 * A TRE whose keys do not match the federation's leaves its researcher told why, not waiting in silence.
 *
 * - TRE b's leaf.yaml pins another hub key (`hub.publicKey`): its agent refuses every Dispatch, and ends its part of
 *   the task with a `rejected` of its own that names both keys and what its operator must do; once per task, across
 *   a restart. The hub takes that refusal only for a task dispatched to b that b has not reported anything of.
 * - TRE c's leaf.yaml names another seed than the one it registered (`signingKeyFile`): the hub refuses everything it
 *   sends, and the researcher's view of its unfinished task, and `tremesh tres`, say so; once its operator puts the
 *   registered seed back, the task goes on.
 *
 * Real hub and leaves, their agents, from the files operators write; the researcher's CLI in-process.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ExitCode } from "../cli/exit-codes.js";
import { escapeHtml } from "../cli/page-html.js";
import { taskLive } from "../cli/ui-views.js";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import type { LeafNodeEvent } from "../leaf/index.js";
import {
  generateKeyPair,
  newId,
  type SigningKey,
  sealEnvelope,
  sealFresh,
  signingKeyFromSeed,
  subjects,
} from "../protocol/index.js";
import {
  approveProject,
  childReaches,
  type Federation,
  startFederation,
  taskView,
} from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";

let fed: Federation;
let countFile: string;
/** The hub key TRE b's leaf.yaml pins instead of the federation's. */
const otherHub = signingKeyFromSeed(generateKeyPair("user").seed);
/** A key neither the hub nor TRE b's pin: what forged Dispatches are signed with. */
const stranger = signingKeyFromSeed(generateKeyPair("user").seed);
/** The seed TRE c's leaf.yaml names instead of the one it registered. */
const strayTre = generateKeyPair("user");

type AgentEvent = Extract<LeafNodeEvent, { type: "agent" }>["event"];
const agentEvents: { tre: string; event: AgentEvent }[] = [];
/** What the hub's status tracker refused, by subject. */
const hubRefusals: { subject: string; code: string }[] = [];

/** The leaf.yaml fields these tests edit. */
interface LeafYaml {
  signingKeyFile: string;
  hub: { publicKey: string };
}

/** Rewrites TRE `tre`'s leaf.yaml as its operator would edit it. */
async function editLeafYaml(tre: string, edit: (config: LeafYaml) => void): Promise<void> {
  const path = fed.files.leafConfigs[tre]!;
  const config = parse(await readFile(path, "utf8")) as LeafYaml;
  edit(config);
  await writeFile(path, stringify(config), { mode: 0o600 });
}

/** The agent's `task` events of TRE `tre` for `taskId`: each transition it recorded and announced. */
const transitions = (tre: string, taskId: string) =>
  agentEvents.flatMap(({ tre: t, event }) =>
    t === tre && event.type === "task" && event.taskId === taskId ? [event] : [],
  );

/** The agent's refusals (dead letters) of TRE `tre`'s messages about `taskId`. */
const agentRefusals = (tre: string, taskId: string) =>
  agentEvents.flatMap(({ tre: t, event }) =>
    t === tre && event.type === "refused" && event.subject.endsWith(taskId) ? [event] : [],
  );

/** A Dispatch of `taskId` to `tre` made and signed as a hub with `key` makes one, published into its TASKS. */
async function publishDispatch(tre: string, taskId: string, key: SigningKey, tamper = false): Promise<void> {
  const alice = signingKeyFromSeed(generateKeyPair("user").seed);
  const now = Date.now();
  const times = { iat: now, exp: now + 3_600_000 };
  const submission = sealEnvelope(
    "submission",
    {
      id: taskId,
      ...times,
      project: "diabetes",
      tres: [tre],
      analysis: { kind: "count", dataset: "patients" },
    },
    alice,
  );
  const dispatch = sealEnvelope("dispatch", { id: newId(), ...times, taskId, tre, submission }, key);
  if (tamper) dispatch[dispatch.length - 1]! ^= 1; // the signature's last byte
  await fed.hub.services.js.publish(subjects.dispatch(tre, taskId), dispatch, { msgID: newId() });
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["b", "c"],
    researchers: ["alice"],
    reviewers: ["rita"],
    heartbeatIntervalMs: 500,
    startLeaves: [],
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "diabetes" }),
    onLeafEvent: (tre, e) => {
      if (e.type === "agent") agentEvents.push({ tre, event: e.event });
    },
    onHubEvent: (e) => {
      if (e.service === "status" && e.event.type === "refused") hubRefusals.push(e.event);
    },
  });
  for (const tre of ["b", "c"])
    await writePatientsCsv(
      generatePatients(patientProfiles.small, 5),
      join(fed.files.dir, `patients-${tre}.csv`),
    );
  await editLeafYaml("b", (c) => {
    c.hub.publicKey = otherHub.publicKey;
  });
  await editLeafYaml("c", (c) => {
    c.signingKeyFile = "./secrets/tre-c-stray.seed";
  });
  await writeFile(join(fed.files.dir, "secrets", "tre-c-stray.seed"), `${strayTre.seed}\n`, { mode: 0o600 });
  await fed.startLeaf("b");
  await fed.startLeaf("c");
  await approveProject(fed, { project: "diabetes", tres: ["b", "c"], members: ["alice"] });
  countFile = join(fed.files.dir, "count.json");
  await writeFile(countFile, JSON.stringify({ kind: "count", dataset: "patients" }));
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("a TRE that pins another hub key", () => {
  it("ends its part of the task as rejected, naming both keys and what its operator must do", async () => {
    const r = await fed.cli(
      ["submit", "--project", "diabetes", "--tres", "b", countFile, "--wait", "--timeout-ms", "30000"],
      "alice",
    );
    const taskId = r.out[0]!;
    const reason =
      `this TRE refused the task without receiving it: its Dispatch is signed by hub key ${fed.files.hubPublicKey.slice(0, 8)}…, ` +
      `but the TRE's leaf.yaml pins hub.publicKey ${otherHub.publicKey.slice(0, 8)}…; the TRE's operator must pin the ` +
      "federation's hub key (hub.publicKey, or hub.nextPublicKey while the federation changes it) and restart the " +
      "leaf, then the task can be submitted again";
    expect(r.code).toBe(ExitCode.failed);
    expect(r.err.slice(-2)).toEqual([
      `b rejected: ${reason}`,
      // The TRE's to put right, not the analysis's.
      `TRE b's operators must put right what its reason says before the task can run there; \`tremesh status ${taskId}\` shows each TRE's history`,
    ]);

    const child = (await taskView(fed, taskId)).children[0]!;
    expect(child.history.map((h) => [h.state, h.actor, h.reason])).toEqual([
      ["queued", "hub", undefined],
      ["rejected", "tre:b/agent", reason],
    ]);
    // The TRE's own log still has the dead letter of the Dispatch, with what to do.
    expect(agentRefusals("b", taskId).map((e) => e.code)).toEqual(["unknown_signer"]);
  }, 60_000);

  it("refuses a task once, however many Dispatches of it come, across a restart of its leaf", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "b", countFile], "alice");
    const taskId = r.out[0]!;
    await childReaches(fed, taskId, "b", "rejected");
    // More Dispatches of the task, as a flood of forged ones would be: each is dead-lettered, none answered again.
    await publishDispatch("b", taskId, stranger);
    await waitFor("the second Dispatch refused", () => agentRefusals("b", taskId).length === 2);
    await fed.stopLeaf("b");
    await fed.startLeaf("b");
    await publishDispatch("b", taskId, signingKeyFromSeed(generateKeyPair("user").seed));
    await waitFor("the third Dispatch refused", () => agentRefusals("b", taskId).length === 3);
    expect(transitions("b", taskId).map((e) => e.state)).toEqual(["rejected"]);
    const child = (await taskView(fed, taskId)).children[0]!;
    expect(child.history.map((h) => h.state)).toEqual(["queued", "rejected"]);
  }, 90_000);

  it("answers no Dispatch whose signature does not verify, and the hub takes no refusal of a task not sent to the TRE", async () => {
    // A bad signature: dead-lettered as before, and nothing sent.
    const forged = newId();
    await publishDispatch("b", forged, stranger, true);
    await waitFor("the forged Dispatch refused", () => agentRefusals("b", forged).length === 1);
    expect(transitions("b", forged)).toEqual([]);

    // Well signed by another key, for a task the hub never dispatched: the TRE answers, the hub refuses the answer.
    const unknown = newId();
    await publishDispatch("b", unknown, stranger);
    await waitFor("the TRE's refusal", () => transitions("b", unknown).length === 1);
    const refused = await waitFor("the hub's dead letter", () =>
      hubRefusals.find((e) => e.subject === subjects.status("b", unknown)),
    );
    expect(refused.code).toBe("unknown_task");
  }, 60_000);

  it("is taken by the hub only for a task the TRE has reported nothing of", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "b", countFile], "alice");
    const taskId = r.out[0]!;
    await childReaches(fed, taskId, "b", "rejected");
    // TRE b's own key says again that it never received the task: the hub has b's word for it already.
    const leaf = fed.leaves.get("b")!;
    const again = sealFresh(
      "status",
      {
        taskId,
        tre: "b",
        state: "rejected",
        actor: "agent",
        unpinnedHubKey: { pinned: otherHub.publicKey, signer: fed.files.hubPublicKey },
      },
      leaf.config.treKey,
      60_000,
    );
    await jetstream(leaf.dmz).publish(subjects.status("b", taskId), again, { msgID: newId() });
    const refused = await waitFor("the hub's dead letter", () =>
      hubRefusals.find((e) => e.subject === subjects.status("b", taskId)),
    );
    expect(refused.code).toBe("already_received");
    expect((await taskView(fed, taskId)).children[0]!.history.map((h) => h.state)).toEqual([
      "queued",
      "rejected",
    ]);
  }, 60_000);
});

describe("a TRE that signs with a seed it did not register", () => {
  it("is named in the researcher's view of its waiting task, and the task goes on once its seed is put back", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "c", countFile], "alice");
    const taskId = r.out[0]!;
    const stray = strayTre.publicKey;
    const why =
      `the hub refuses TRE c's messages: it signs them with key ${stray.slice(0, 8)}…, which the federation did not ` +
      "register for it; its operator must set leaf.yaml signingKeyFile to the seed whose public key was given to " +
      "`tremesh admin add-tre`";
    // The TRE runs the task, but nothing it says of it reaches the hub.
    await waitFor(
      "the task awaiting review at c",
      () => transitions("c", taskId).some((e) => e.state === "outputs_pending_review"),
      { timeoutMs: 60_000 },
    );
    const view = await waitFor("the view to name c's key", async () => {
      const v = await taskView(fed, taskId);
      return v.children[0]!.unregisteredKey ? v : undefined;
    });
    expect(view.state).toBe("dispatched");
    expect(view.children[0]).toMatchObject({ tre: "c", state: "queued", unregisteredKey: stray });

    const status = await fed.cli(["status", taskId], "alice");
    expect(status.out).toContain(`    not moving: ${why}`);
    const watched = await fed.cli(["watch", taskId, "--timeout-ms", "300"], "alice");
    expect(watched.code).toBe(ExitCode.unavailable);
    expect(watched.err).toEqual([
      `tremesh watch: task ${taskId} is still dispatched after 300 ms: ${why}; \`tremesh watch ${taskId}\` follows it`,
    ]);
    expect(watched.out.at(-1)).toMatch(/ c: queued \(its messages refused: unregistered key\)$/);
    // The researcher's page shows the task's live part from the same view.
    expect(taskLive(view, undefined).toString()).toContain(
      `<p class="problem">Not moving: ${escapeHtml(why)}</p>`,
    );
    const tres = await fed.cli(["tres"], "alice");
    expect(tres.out.filter((l) => l.includes(why))).toHaveLength(1);

    // Its operator puts the registered seed back: the hub hears the TRE again, and its release reaches the researcher.
    await fed.stopLeaf("c");
    await editLeafYaml("c", (c) => {
      c.signingKeyFile = "./secrets/tre-c.seed";
    });
    await fed.startLeaf("c");
    await waitFor("the view to drop c's key", async () => {
      const v = await taskView(fed, taskId);
      return v.children[0]!.unregisteredKey === undefined;
    });
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-c-rita")).code).toBe(0);
    await childReaches(fed, taskId, "c", "released");
    const fixed = await fed.cli(["tres"], "alice");
    expect(fixed.out.join("\n")).not.toContain("refuses");
  }, 120_000);
});
