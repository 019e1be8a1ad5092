/**
 * A researcher learns of a change to their task as it happens: a `task` query naming the view it holds
 * (`changedFrom`) is answered by the hub once the task moves on, not at the next poll; one naming an old view is
 * answered at once; one for a task that does not move is answered unchanged when its wait is over. `tremesh watch`
 * follows a task this way. Real hub, leaf, agent and airlock over TLS.
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchTask } from "../aggregator/index.js";
import { signingKey } from "../cli/profile.js";
import { followTask } from "../cli/results-command.js";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import { approveProject, childReaches, type Federation, startFederation } from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";

let fed: Federation;

beforeAll(async () => {
  fed = await startFederation({
    // TRE b's leaf never starts: a task for it waits at the hub.
    tres: ["a", "b"],
    researchers: ["alice"],
    reviewers: ["rita"],
    startLeaves: [],
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "diabetes" }),
  });
  await writePatientsCsv(generatePatients(patientProfiles.small, 5), join(fed.files.dir, "patients-a.csv"));
  await fed.startLeaf("a");
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

async function submitCount(): Promise<string> {
  const r = await fed.cli(
    ["submit", "--project", "diabetes", "--tres", "a", join(fed.files.dir, "count.json")],
    "alice",
  );
  expect(r.err).toEqual([]);
  return r.out[0]!;
}

describe("following a task", () => {
  beforeAll(async () => {
    await writeFile(
      join(fed.files.dir, "count.json"),
      JSON.stringify({ kind: "count", dataset: "patients" }),
    );
  });

  it("answers a query naming the view the researcher holds once the task moves on, with the new view", async () => {
    const taskId = await submitCount();
    await childReaches(fed, taskId, "a", "outputs_pending_review", { timeoutMs: 60_000 });
    const nc = await fed.connect("alice");
    const key = signingKey(await fed.profile("alice"));
    const held = await fetchTask(nc, key, taskId);
    const version = held.version!;
    expect(version).toMatch(/^[0-9a-f]{32}$/);

    // Nothing moves: the wait runs out and the same view comes back.
    const unchanged = await fetchTask(nc, key, taskId, { changedFrom: version, waitMs: 300 });
    expect(unchanged.version).toBe(version);

    // The reviewer releases while the researcher's query waits: it is answered with the task as it now is.
    const waiting = fetchTask(nc, key, taskId, { changedFrom: version, waitMs: 25_000 });
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-a-rita")).code).toBe(0);
    const moved = await waiting;
    expect(moved.version).not.toBe(version);
    expect(moved.children[0]!.history.length).toBeGreaterThan(held.children[0]!.history.length);

    // A view the researcher holds that is already old is answered at once, however long it may wait.
    const settled = await childReaches(fed, taskId, "a", "released");
    expect(settled.state).toBe("released");
    const now = await fetchTask(nc, key, taskId, { changedFrom: version, waitMs: 25_000 });
    expect(now.children[0]!.state).toBe("released");
  }, 120_000);

  it("tremesh watch ends with the task, printing each change", async () => {
    const taskId = await submitCount();
    await childReaches(fed, taskId, "a", "outputs_pending_review", { timeoutMs: 60_000 });
    const watching = fed.cli(["watch", taskId], "alice");
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-a-rita")).code).toBe(0);
    const r = await watching;
    expect(r.code).toBe(0);
    expect(r.out.at(-1)).toMatch(/ completed /);
  }, 120_000);

  it("tremesh watch says the hub went away when it stops under it, and how to follow the task again", async () => {
    const taskId = await submitCount();
    await childReaches(fed, taskId, "a", "outputs_pending_review", { timeoutMs: 60_000 });
    const watching = fed.cli(["watch", taskId], "alice");
    await new Promise((resolve) => setTimeout(resolve, 500));
    await fed.restartHub();
    const r = await watching;
    expect(r.code).toBe(4);
    expect(r.err).toEqual([
      `tremesh watch: the hub stopped answering (is it stopped or restarting?) while task ${taskId} is still running: awaiting review at a; the task goes on at the TREs: once the hub is back, \`tremesh watch ${taskId}\` follows it`,
    ]);
    // Nothing was lost: followed again, the task ends once its review is done.
    const again = fed.cli(["watch", taskId], "alice");
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-a-rita")).code).toBe(0);
    const ended = await again;
    expect(ended.code).toBe(0);
    expect(ended.out.at(-1)).toMatch(/ completed /);
  }, 120_000);

  it("says what an unfinished task waits on: aggregate has nothing to combine yet, and watch's timeout names the review", async () => {
    const taskId = await submitCount();
    await childReaches(fed, taskId, "a", "outputs_pending_review", { timeoutMs: 60_000 });
    const follow = `\`tremesh watch ${taskId}\` follows it`;
    for (const format of [[], ["--csv"]]) {
      const r = await fed.cli(["aggregate", taskId, ...format], "alice");
      expect({ format, code: r.code, out: r.out, err: r.err }).toEqual({
        format,
        code: 1,
        out: [],
        err: [`task ${taskId} is still running: awaiting review at a; nothing to combine yet; ${follow}`],
      });
    }
    const watched = await fed.cli(["watch", taskId, "--timeout-ms", "300"], "alice");
    expect(watched.code).toBe(4);
    expect(watched.err).toEqual([
      `tremesh watch: task ${taskId} is still running after 300 ms: awaiting review at a; ${follow}`,
    ]);
  }, 120_000);

  it("says once, while following, whose reviewers have not decided after the review has waited a while", async () => {
    const taskId = await submitCount();
    await childReaches(fed, taskId, "a", "outputs_pending_review", { timeoutMs: 60_000 });
    const nc = await fed.connect("alice");
    const key = signingKey(await fed.profile("alice"));
    const hints: string[] = [];
    const followed = followTask(nc, key, taskId, () => {}, {
      onHint: (line) => hints.push(line),
      reviewHintAfterMs: 500,
    });
    // Said when the wait is over, not at the hub's next unchanged answer (20 s on).
    await waitFor("the review hint", () => hints.length > 0, { timeoutMs: 10_000 });
    expect(hints).toEqual([
      `task ${taskId}: TRE a's reviewers have not decided yet; the TRE's reviewers release or withhold its outputs on the TRE's review page, and the task waits until they do`,
    ]);
    expect((await fed.cli(["airlock", "approve", taskId], "reviewer-a-rita")).code).toBe(0);
    expect((await followed).state).toBe("completed");
    expect(hints).toHaveLength(1);
  }, 120_000);

  it("submit --wait's timeout names a TRE that has not received the task, and with --json prints no second document", async () => {
    const submit = ["submit", "--project", "diabetes", "--tres", "b", join(fed.files.dir, "count.json")];
    const r = await fed.cli([...submit, "--wait", "--timeout-ms", "500"], "alice");
    expect(r.code).toBe(4);
    const taskId = r.out[0]!;
    expect(r.out).toEqual([taskId]);
    expect(r.err.at(-1)).toBe(
      `tremesh submit: task ${taskId} is still dispatched after 500 ms: waiting for TRE b to receive it (is its leaf linked? \`tremesh tres\` shows each TRE's link; if it is, the TRE's log says why it has not taken the task); \`tremesh watch ${taskId}\` follows it`,
    );
    // With --json, stdout is kept for the final view, which a timeout never reaches: nothing there; the id on stderr.
    const json = await fed.cli([...submit, "--wait", "--json", "--timeout-ms", "500"], "alice");
    expect(json.code).toBe(4);
    expect(json.out).toEqual([]);
    const jsonId = /^task (\S+)$/.exec(json.err[0] ?? "")![1]!;
    expect(json.err.at(-1)).toMatch(
      new RegExp(`^tremesh submit: task ${jsonId} is still dispatched after 500 ms: waiting for TRE b`),
    );
    // Cancelled while b is away: sent once; asked again, the researcher learns it is still on its way.
    expect((await fed.cli(["cancel", taskId], "alice")).out).toEqual(["cancel sent to b"]);
    const again = await fed.cli(["cancel", taskId], "alice");
    expect(again.code).toBe(0);
    expect(again.out).toEqual(["cancel already sent to b; that TRE has not stopped the task yet"]);
  }, 120_000);
});
