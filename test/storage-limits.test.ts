/**
 * A TRE's task queue at the hub at its storage limit: the JetStream storage of the TRE's hub account (operator
 * mode, `tremesh admin add-tre --storage-mb`, here 1 MiB) is filled, and a researcher's submission is then refused
 * with a message naming that limit and its size, never accepted and retried in silence. Nothing is lost: the task's
 * record at the hub says the same for that TRE (`rejected` by the hub, with the reason), the hub's audit log has a
 * `task.not_queued` record, and a task to that TRE and another still runs at the other.
 */

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { JetStreamApiError } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../cli/main.js";
import { newId, subjects } from "../protocol/index.js";
import { auditRecords } from "./harness/fault-evidence.js";
import { approveProject, type Federation, startFederation, taskView } from "./harness/federation.js";

let fed: Federation;
let countFile: string;
/** What fills TRE b's hub account: messages below the hub's 1 MB payload limit. */
const FILLER_BYTES = 200 * 1024;

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    mode: "operator",
    treStorageMb: { b: 1 },
    // No agents: the test is about the hub's queue, and b's leaf never comes up (its TASKS only fills).
    startLeaves: ["a"],
    agent: false,
  });
  countFile = join(fed.files.dir, "count.json");
  await writeFile(countFile, JSON.stringify({ kind: "count", dataset: "patients" }));
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });

  // Fill b's TASKS to the brim as the hub's own services write to it: smaller and smaller messages, each size until
  // the account refuses it, so that not even a small Dispatch fits afterwards.
  const js = fed.hub.services.js;
  for (let size = FILLER_BYTES; size >= 64; size = Math.floor(size / 2)) {
    for (let i = 0; ; i++) {
      if (i > 20) throw new Error(`TRE b's 1 MiB account took more than 20 messages of ${size} bytes`);
      try {
        await js.publish(subjects.dispatch("b", newId()), new Uint8Array(size), { msgID: newId() });
      } catch (e) {
        if (e instanceof JetStreamApiError && e.code === 10002) break;
        throw e;
      }
    }
  }
}, 180_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("a TRE's task queue at its storage limit", () => {
  it("refuses a submission to that TRE alone, naming the limit and its size; the task's record says so", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "b", countFile], "alice");
    expect(r.code).toBe(5);
    expect(r.out).toEqual([]);
    expect(r.err).toHaveLength(1);
    expect(r.err[0]).toMatch(
      /^tremesh submit: rejected \(storage_limit\): task \S+ was not queued: TRE b: the task queue of TRE b at the hub is full: the JetStream storage of TRE b's hub account \(1 MiB, [\d.]+ (KiB|MiB) in use\) is reached$/,
    );
    const taskId = /task (\S+) was not queued/.exec(r.err[0]!)![1]!;

    const view = await taskView(fed, taskId);
    expect(view.state).toBe("failed");
    const b = view.children.find((c) => c.tre === "b")!;
    expect(b.state).toBe("rejected");
    expect(b.history.map((h) => [h.state, h.actor])).toEqual([
      ["queued", "hub"],
      ["rejected", "hub"],
    ]);
    expect(b.history[1]!.reason).toMatch(
      /JetStream storage of TRE b's hub account \(1 MiB.*\) is reached; the task was not queued for b and will not run there/,
    );
    const text = await fed.cli(["status", taskId], "alice");
    expect(text.out.join("\n")).toMatch(
      /b: rejected\n.*queued\s+hub\n.*rejected\s+hub — the task queue of TRE b/,
    );

    const notQueued = (await auditRecords(fed.hub.services.js)).filter(
      (a) => a.action === "task.not_queued" && a.taskId === taskId,
    );
    expect(notQueued).toHaveLength(1);
    expect(notQueued[0]).toMatchObject({
      tre: "b",
      details: { limit: "the JetStream storage of TRE b's hub account", bytes: 1024 * 1024, code: 10002 },
    });
  });

  it("queues a task for the other TREs and says at once which TRE did not take it (exit 1)", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a,b", countFile], "alice");
    expect(r.code).toBe(1);
    expect(r.out).toHaveLength(1);
    const taskId = r.out[0]!;
    expect(r.err).toEqual([
      expect.stringMatching(
        /^tremesh submit: TRE b did not queue the task: the task queue of TRE b at the hub is full: the JetStream storage of TRE b's hub account \(1 MiB/,
      ),
    ]);
    const view = await taskView(fed, taskId);
    expect(view.state).toBe("running"); // b has ended, a has yet to take it
    expect(view.children.map((c) => [c.tre, c.state])).toEqual([
      ["a", "queued"],
      ["b", "rejected"],
    ]);
  });

  it("takes b's tasks again once the admin raises its account's storage, with no hub restart", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const adminDir = fed.files.adminDir!;
    expect(await run(["admin", "set-tre", "b", "--storage-mb", "2", "--dir", adminDir], io)).toBe(0);
    expect(err).toEqual([]);
    expect(out).toEqual(["TRE b: hub account storage 2 MiB (was 1 MiB), in force at the hub"]);

    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "b", countFile], "alice");
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    const view = await taskView(fed, r.out[0]!);
    expect(view.children.map((c) => [c.tre, c.state])).toEqual([["b", "queued"]]);
  });
});
