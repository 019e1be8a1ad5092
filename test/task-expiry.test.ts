/**
 * A task whose TRE never takes it: the TRE's TASKS stream drops it after hub.yaml `tasksMaxAgeMs` (shortened here
 * to seconds), and the hub then ends that TRE's child `expired`, with the reason, visible in `status`; nothing
 * waits forever. A TRE that took the task in time is unaffected. The test plays TRE a's part itself; TRE b's leaf
 * never comes up.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { waitFor } from "../common/index.js";
import { newId, sealEnvelope, subjects, type TaskView } from "../protocol/index.js";
import { addProject, type Federation, registerResearchers, startFederation } from "./harness/federation.js";

/** How long TASKS keeps a task here, and how often the hub looks for expired ones. */
const TASKS_MAX_AGE_MS = 2_000;
const EXPIRY_CHECK_MS = 200;
let fed: Federation;
let countFile: string;

async function statusOf(taskId: string): Promise<TaskView> {
  const r = await fed.cli(["status", taskId, "--json"], "alice");
  expect(r.err).toEqual([]);
  return JSON.parse(r.out.join("\n")) as TaskView;
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    startLeaves: ["a"],
    agent: false,
  });
  // The retention, shortened in hub.yaml as an operator would set it; the restarted hub applies it to TASKS.
  const hubYaml = fed.files.hubConfigs[0]!;
  const config = parse(await readFile(hubYaml, "utf8")) as Record<string, unknown>;
  await writeFile(
    hubYaml,
    stringify({ ...config, tasksMaxAgeMs: TASKS_MAX_AGE_MS, expiryCheckIntervalMs: EXPIRY_CHECK_MS }),
  );
  await fed.restartHub();
  countFile = join(fed.files.dir, "count.json");
  await writeFile(countFile, JSON.stringify({ kind: "count", dataset: "patients" }));
  await registerResearchers(fed, ["alice"]);
  await addProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("tasks a TRE never takes", () => {
  it("end `expired` for that TRE once its TASKS stream has dropped them, with the reason; a TRE that took it goes on", async () => {
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a,b", countFile], "alice");
    expect(r).toMatchObject({ code: 0, err: [] });
    const taskId = r.out[0]!;

    // TRE a takes the task at once (its agent's first status event, signed with a's key).
    const leaf = fed.leaves.get("a")!;
    const now = Date.now();
    const received = sealEnvelope(
      "status",
      { id: newId(now), iat: now, exp: now + 60_000, taskId, tre: "a", state: "received", actor: "agent" },
      leaf.config.treKey,
    );
    await jetstream(leaf.dmz).publish(subjects.status("a", taskId), received, { msgID: newId() });
    await waitFor("a's received event at the hub", async () =>
      (await statusOf(taskId)).children.find((c) => c.tre === "a" && c.state === "received"),
    );

    const view = await waitFor(
      "b's child to expire",
      async () => {
        const v = await statusOf(taskId);
        return v.children.find((c) => c.tre === "b")?.state === "expired" ? v : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const b = view.children.find((c) => c.tre === "b")!;
    expect(b.history.map((h) => [h.state, h.actor])).toEqual([
      ["queued", "hub"],
      ["expired", "hub"],
    ]);
    expect(b.history[1]!.reason).toBe(
      "TRE b did not take the task within the 2 s its TASKS stream keeps it; the task is gone from there and will not run at b",
    );
    expect(b.history[1]!.at - b.history[0]!.at).toBeGreaterThanOrEqual(TASKS_MAX_AGE_MS);
    expect(view.children.find((c) => c.tre === "a")!.state).toBe("received");
    expect(view.state).toBe("running");

    const text = await fed.cli(["status", taskId], "alice");
    expect(text.out.join("\n")).toMatch(
      /b: expired\n.*queued\s+hub\n.*expired\s+hub — TRE b did not take the task/,
    );
  });
});
