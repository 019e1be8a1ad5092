import { readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sendSubmission, signSubmission } from "../aggregator/index.js";
import { ExitCode } from "../cli/exit-codes.js";
import { waitFor } from "../common/index.js";
import { startHubServices } from "../hub/hub-services.js";
import { loadHubConfig } from "../hub/index.js";
import { type PassedStep, StatusPublisher } from "../leaf/status-publisher.js";
import {
  type ChildState,
  generateKeyPair,
  newId,
  openEnvelope,
  streams,
  subjects,
  type TaskView,
  TrustStore,
} from "../protocol/index.js";
import { addProject, type Federation, registerResearchers, startFederation } from "./harness/federation.js";
import { storedEntries, waitForSettledStream } from "./harness/stream-contents.js";

let fed: Federation;
let countFile: string;

/**
 * A TRE-signed status event of TRE `tre`'s, published as its agent publishes one (`StatusPublisher`), with the
 * steps `passed` on the way announced in it.
 */
async function treStatus(
  tre: string,
  taskId: string,
  state: ChildState,
  reason?: string,
  {
    attempt = 1,
    at = Date.now(),
    passed = [],
  }: { attempt?: number; at?: number; passed?: readonly PassedStep[] } = {},
) {
  const leaf = fed.leaves.get(tre)!;
  await new StatusPublisher(jetstream(leaf.dmz), tre, leaf.config.treKey).publish(
    taskId,
    state,
    "agent",
    reason,
    at,
    attempt,
    passed,
  );
}

async function statusOf(taskId: string, profile = "alice"): Promise<TaskView> {
  const r = await fed.cli(["status", taskId, "--json"], profile);
  expect(r.err).toEqual([]);
  return JSON.parse(r.out.join("\n")) as TaskView;
}

async function submitCount(tres: string): Promise<string> {
  const r = await fed.cli(["submit", "--project", "diabetes", "--tres", tres, countFile], "alice");
  expect(r).toMatchObject({ code: 0, err: [] });
  return r.out[0]!;
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b", "c"],
    researchers: ["alice", "bob"],
    heartbeatIntervalMs: 500,
    offlineAfterMs: 2_000,
    agent: false, // these tests play the TRE's part themselves
  });
  countFile = join(fed.files.dir, "count.json");
  await writeFile(countFile, JSON.stringify({ kind: "count", dataset: "patients", groupBy: ["sex"] }));
  await registerResearchers(fed, ["alice", "bob"]);
  await addProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
});

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("a federation started from hub.yaml and leaf.yaml", () => {
  it("delivers a researcher's task to the TREs it names, and shows each TRE's state with who, when and why", async () => {
    const taskId = await submitCount("a,b");
    for (const tre of ["a", "b"]) {
      const jsm = fed.leaves.get(tre)!.dmzJsm;
      await waitFor(`the dispatch in ${tre}'s INBOX`, async () =>
        (await storedEntries(jsm, streams.inbox)).some((e) => e.subject.endsWith(taskId)),
      );
      await waitForSettledStream(jsm, streams.inbox, (await jsm.streams.info(streams.inbox)).state.messages);
      const entries = (await storedEntries(jsm, streams.inbox)).filter((e) => e.subject.endsWith(taskId));
      expect(entries.map((e) => e.subject)).toEqual([subjects.dispatch(tre, taskId)]);
    }
    const cEntries = await storedEntries(fed.leaves.get("c")!.dmzJsm, streams.inbox);
    expect(cEntries.filter((e) => e.subject.endsWith(taskId))).toEqual([]);

    await treStatus("a", taskId, "received", "dispatch verified against the pinned hub key");
    const view = await waitFor("a's received event at the hub", async () => {
      const v = await statusOf(taskId);
      return v.children.find((c) => c.tre === "a")?.state === "received" ? v : undefined;
    });
    expect(view).toMatchObject({ taskId, project: "diabetes", researcher: "alice", state: "running" });
    const a = view.children.find((c) => c.tre === "a")!;
    expect(a.history.map((h) => [h.state, h.actor])).toEqual([
      ["queued", "hub"],
      ["received", "tre:a/agent"],
    ]);
    expect(a.history[1]!.reason).toBe("dispatch verified against the pinned hub key");
    expect(a.history[1]!.at).toBeGreaterThanOrEqual(a.history[0]!.at);
    expect(view.children.find((c) => c.tre === "b")!.state).toBe("queued");

    const text = await fed.cli(["status", taskId], "alice");
    expect(text.out.join("\n")).toMatch(
      /a: received\n.*queued\s+hub\n.*received\s+tre:a\/agent — dispatch verified/,
    );
  });

  it("answers another researcher's status or cancel of the task exactly as for an unknown task", async () => {
    const taskId = await submitCount("a");
    const bob = await fed.cli(["status", taskId], "bob");
    expect(bob.code).toBe(1);
    expect(bob.err[0]).toBe(`tremesh status: no task ${taskId} of yours (not_found)`);
    const unknown = await fed.cli(["status", newId()], "bob");
    expect(unknown.err[0]).toMatch(/of yours \(not_found\)$/);
    const cancel = await fed.cli(["cancel", taskId], "bob");
    expect(cancel.code).toBe(1);
    expect((await statusOf(taskId)).children[0]!.state).toBe("queued");
  });

  it("refuses a submission from a researcher who is not on the project, with the reason", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a", countFile], "bob");
    expect(r.code).toBe(5);
    expect(r.err[0]).toBe("tremesh submit: rejected (not_a_member): bob is not a member of diabetes");
  });

  it("sends a cancel to each TRE as a hub-signed Cancel; the TREs' cancelled events end the task", async () => {
    const taskId = await submitCount("a,b");
    const r = await fed.cli(["cancel", taskId, "--reason", "wrong dataset", "--json"], "alice");
    expect(JSON.parse(r.out[0]!)).toEqual({ taskId, cancelRequested: ["a", "b"] });

    const hubTrust = new TrustStore().add({ publicKey: fed.files.hubPublicKey, role: "hub", name: "hub" });
    for (const tre of ["a", "b"]) {
      const jsm = fed.leaves.get(tre)!.dmzJsm;
      const cancel = await waitFor(`the cancel in ${tre}'s INBOX`, async () =>
        (await storedEntries(jsm, streams.inbox)).find((e) => e.subject === subjects.cancel(tre, taskId)),
      );
      const msg = await jsm.streams.getMessage(streams.inbox, { seq: cancel.seq });
      const opened = openEnvelope(msg!.data, { trust: hubTrust, expect: "cancel", tre });
      expect(opened.ok && opened.value.type === "cancel" && opened.value.body).toMatchObject({
        taskId,
        tre,
        reason: "wrong dataset",
      });
    }
    let view = await statusOf(taskId);
    expect(view.children.map((c) => c.state)).toEqual(["cancel_requested", "cancel_requested"]);
    expect(view.children[0]!.history[1]).toMatchObject({ actor: "hub/alice", reason: "wrong dataset" });

    await treStatus("a", taskId, "cancelled", "cancelled before it ran");
    await treStatus("b", taskId, "cancelled", "cancelled before it ran");
    view = await waitFor("the task cancelled", async () => {
      const v = await statusOf(taskId);
      return v.state === "cancelled" ? v : undefined;
    });
    expect(view.children.map((c) => c.state)).toEqual(["cancelled", "cancelled"]);
    const again = await fed.cli(["cancel", taskId], "alice");
    expect(again.err[0]).toMatch(/has ended at every TRE \(already_ended\)$/);
  });

  it("watch and status show a TRE's reason as it gave it, its control bytes made visible, never sent to the terminal", async () => {
    const taskId = await submitCount("a");
    expect((await fed.cli(["cancel", taskId], "alice")).code).toBe(0);
    await treStatus("a", taskId, "cancelled", "stopped here\u001b[2J\u0007 by the TRE");
    await waitFor("the task cancelled", async () => (await statusOf(taskId)).state === "cancelled");
    const watched = await fed.cli(["watch", taskId], "alice");
    expect(watched.code).toBe(1);
    expect(watched.err[0]).toBe("a cancelled: stopped here\\u{1b}[2J\\u{7} by the TRE");
    const text = (await fed.cli(["status", taskId], "alice")).out.join("\n");
    expect(text).toContain("— stopped here\\u{1b}[2J\\u{7} by the TRE");
    expect(text).not.toMatch(/\p{Cc}(?<!\n)/u);
  });

  it("prints in status a TRE's attempt when it runs the task again, and a released claim the hub cannot back", async () => {
    const taskId = await submitCount("a");
    // TRE a's agent: its first run stopped (a restart), its second is running, then it claims released at once.
    const steps = [
      ["received", 1],
      ["accepted", 1],
      ["running", 1],
      [
        "accepted",
        2,
        "the agent restarted while attempt 1 of 3 ran; nothing of it was kept; attempt 2 follows",
      ],
      ["running", 2],
    ] as const;
    // in order, whatever the clock's resolution
    for (const [i, [state, attempt, reason]] of steps.entries())
      await treStatus("a", taskId, state, reason, { attempt, at: Date.now() + i });
    await waitFor("a at its second run", async () => (await statusOf(taskId)).children[0]!.attempt === 2);
    const running = (await fed.cli(["status", taskId], "alice")).out.join("\n");
    expect(running).toMatch(/\n {2}a: running \(attempt 2\)\n/);
    expect(running).toMatch(
      /accepted\s+tre:a\/agent \[attempt 2\] — the agent restarted while attempt 1 of 3 ran/,
    );
    expect(running).not.toContain("discrepancy");

    // The claim comes with the step before it, as an auto-releasing agent announces them: that step needs no
    // Release and is recorded, by its own actor; the claim is held back.
    const held = {
      state: "outputs_pending_review",
      at: Date.now(),
      reason: "1 output(s) held",
      actor: "agent",
    } as const;
    await treStatus("a", taskId, "released", undefined, { attempt: 2, passed: [held] });
    await waitFor(
      "the hub to note the discrepancy",
      async () => (await statusOf(taskId)).children[0]!.discrepancy,
    );
    const text = (await fed.cli(["status", taskId], "alice")).out.join("\n");
    expect(text).toMatch(
      /\n {2}a: outputs_pending_review \(attempt 2\)\n {4}discrepancy: TRE a reported released, but the hub holds no Release of this task from it\n/,
    );
    expect(text).toMatch(/outputs_pending_review\s+tre:a\/agent \[attempt 2\] — 1 output\(s\) held/);
    expect(text).not.toContain("release: kept at the hub");
  });

  it("runs each TRE's leaf nats-server on one core, as leaf.yaml's default says, and the hub's on every core", async () => {
    const gomaxprocs = async (monitorUrl: string | undefined) =>
      ((await (await fetch(`${monitorUrl}/varz`)).json()) as { gomaxprocs: number }).gomaxprocs;
    for (const leaf of fed.leaves.values()) expect(await gomaxprocs(leaf.server.monitorUrl)).toBe(1);
    expect(await gomaxprocs(fed.hub.server.monitorUrl)).toBe(availableParallelism());
  });

  it("lets a researcher's connection call the researcher services only, and read only its own inbox", async () => {
    const bob = await fed.connect("bob");
    for (const subject of ["_INBOX_alice.>", subjects.treInbound("a"), "tremesh.>", "$JS.API.>"]) {
      const sub = bob.subscribe(subject);
      const closed = await sub.closed;
      expect(String(closed), subject).toMatch(/Permissions Violation for Subscription/);
    }
    // A researcher cannot write into a TRE's TASKS stream either, nor reach JetStream at all.
    await expect(bob.request(`$JS.API.INFO`, undefined, { timeout: 2_000 })).rejects.toThrow();
  });

  it("shows which TREs are online from their signed heartbeats, and a stopped TRE as offline", async () => {
    const online = await fed.cli(["tres", "--json"], "alice");
    const list = JSON.parse(online.out.join("\n")) as { tre: string; online: boolean }[];
    expect(list.map((t) => [t.tre, t.online])).toEqual([
      ["a", true],
      ["b", true],
      ["c", true],
    ]);
    await fed.stopLeaf("c");
    await waitFor(
      "c to count as offline",
      async () => {
        const r = await fed.cli(["tres", "--json"], "alice");
        return (
          (JSON.parse(r.out.join("\n")) as { tre: string; online: boolean }[]).find((t) => t.tre === "c")
            ?.online === false
        );
      },
      { timeoutMs: 15_000 },
    );
    await fed.startLeaf("c");
  });

  /** Another instance of the hub services beside the hub's own, on a connection of the test's. */
  const secondHubServices = async (nc: NatsConnection) =>
    startHubServices({
      nc,
      hubKey: (await loadHubConfig(fed.files.hubConfig)).hubKey,
      tres: Object.entries(fed.files.trePublicKeys).map(([name, publicKey]) => ({ name, publicKey })),
      sourceCheckIntervalMs: 0,
    });

  it("runs two hub service instances side by side without dispatching any task twice", async () => {
    const admin = await fed.connect("admin");
    const second = await secondHubServices(admin);
    try {
      const alice = await fed.connect("alice");
      const key = (await fed.profile("alice")).key!;
      const before = (await fed.leaves.get("a")!.dmzJsm.streams.info(streams.inbox)).state.messages;
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const envelope = signSubmission(key, {
          project: "diabetes",
          tres: ["a", "b"],
          analysis: { kind: "count", dataset: "patients" },
        });
        const reply = await sendSubmission(alice, envelope);
        expect(reply.status).toBe("accepted");
        if (reply.status === "accepted") ids.push(reply.taskId);
        // The same submission again (a retry) lands on whichever instance, and is the same task.
        expect(await sendSubmission(alice, envelope)).toMatchObject({ status: "accepted", duplicate: true });
      }
      const jsm = fed.leaves.get("a")!.dmzJsm;
      await waitForSettledStream(jsm, streams.inbox, before + 20);
      const dispatched = (await storedEntries(jsm, streams.inbox)).filter((e) =>
        ids.some((id) => e.subject === subjects.dispatch("a", id)),
      );
      expect(dispatched).toHaveLength(20);
      expect(new Set(dispatched.map((e) => e.subject)).size).toBe(20);
    } finally {
      await second.stop();
    }
  });

  it("stops a hub service instance once: a second stop, even during the first, is harmless", async () => {
    const admin = await fed.connect("admin");
    const second = await secondHubServices(admin);
    await Promise.all([second.stop(), second.stop()]);
    await second.stop();
    // The connection it ran on and the federation's own services go on as before.
    expect(admin.isClosed()).toBe(false);
    const envelope = signSubmission((await fed.profile("alice")).key!, {
      project: "diabetes",
      tres: ["a"],
      analysis: { kind: "count", dataset: "patients" },
    });
    expect(await sendSubmission(await fed.connect("alice"), envelope)).toMatchObject({ status: "accepted" });
  });

  it("keeps an intact hash-chained audit log of what it decided", async () => {
    const r = await fed.cli(["audit", "verify", "--json"]);
    const result = JSON.parse(r.out[0]!) as { ok: boolean; count: number };
    expect(r.code).toBe(0);
    expect(result.ok).toBe(true);
    expect(result.count).toBeGreaterThan(10);
  });

  it("refuses to serve the researcher's page for a profile whose key the hub does not know, saying which file to check", async () => {
    const seedFile = join(fed.files.dir, "alice-unknown.seed");
    await writeFile(seedFile, `${generateKeyPair("user").seed}\n`, { mode: 0o600 });
    const alice = await readFile(fed.files.profiles.alice!, "utf8");
    const unknown = join(fed.files.dir, "alice-unknown.profile.yaml");
    await writeFile(unknown, alice.replace(/^signingKeyFile: .*$/m, `signingKeyFile: ${seedFile}`), {
      mode: 0o600,
    });
    fed.files.profiles["alice-unknown"] = unknown;
    const served = await fed.cli(["ui", "--port", "0"], "alice-unknown");
    // As `tremesh status` says it, with its exit code: not an unexpected error (exit 1).
    expect(served.code).toBe(ExitCode.refused);
    expect(served.err).toEqual([expect.stringMatching(/^tremesh ui: .* \(unknown_signer\); /)]);
    expect(served.err[0]).toContain(
      `the hub knows no such key for alice: check signingKeyFile in ${unknown}`,
    );
    const status = await fed.cli(["status"], "alice-unknown");
    expect(status.code).toBe(ExitCode.refused);
    expect(served.err[0]!.replace("tremesh ui:", "")).toBe(status.err[0]!.replace("tremesh status:", ""));
  });

  it("tells a researcher whose profile reads the audit log, instead of an unexpected error", async () => {
    const r = await fed.cli(["audit", "verify"], "alice");
    expect(r.code).toBe(ExitCode.badInput);
    expect(r.err.join("\n")).toMatch(
      /^tremesh audit: \S+ cannot read the audit log \(audit stream AUDIT: could not read the stream's state.*\); the hub's log is read with the federation admin's profile, a TRE's own with its reviewers' profiles$/,
    );
  });
});
