/**
 * The airlock end to end, on a real federation (hub and leaves from their config files, agents, the CLI):
 * disclosure checks, signed reviewer decisions, the two-reviewer rule, auto-release, notifications, restart,
 * the TRE's own audit log, and the proof that a rejected output's values never reach the hub.
 */
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatKeyValue, verifyReleases } from "../aggregator/index.js";
import { airlockPage } from "../cli/airlock-page.js";
import { sendDecision } from "../cli/airlock-requests.js";
import { natsBackend } from "../cli/airlock-serve.js";
import { loadProfile } from "../cli/profile.js";
import { waitFor } from "../common/index.js";
import type { ExecutorOutput } from "../executors/index.js";
import {
  generatePatients,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
} from "../fixtures/index.js";
import { AirlockStore, INLINE_MAX_BYTES } from "../leaf/airlock-store.js";
import {
  type AnalysisSpec,
  analysisOutput,
  type CountOutput,
  decodeOutput,
  encodeOutput,
  generateKeyPair,
  newId,
  OUTPUT_MEDIA_TYPE,
  sealEnvelope,
  signingKeyFromSeed,
  subjects,
  unpack,
} from "../protocol/index.js";
import { airlockOnLeaf, FINE_COUNT, REGION_COUNT } from "./harness/airlock-fixtures.js";
import { type Collector, collect } from "./harness/collect.js";
import { auditRecords } from "./harness/fault-evidence.js";
import {
  approveProject,
  childReaches,
  type Federation,
  openTreRelease,
  releaseOf,
  startFederation,
  taskView,
} from "./harness/federation.js";
import { uniqueToken } from "./harness/unique.js";

const rowsA = generatePatients(patientProfiles.small, 11);
const rowsB = generatePatients(patientProfiles.south, 12);
const allow = { columns: { ...SYNTHETIC_PATIENT_COLUMNS }, identifiers: ["patient_id"] };

let fed: Federation;
let webhook: Server;
const webhookNotices: unknown[] = [];
let noticeFile: string;

async function submit(tres: string, analysis: AnalysisSpec): Promise<string> {
  const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(analysis));
  const r = await fed.cli(["submit", "--project", "diabetes", "--tres", tres, file], "alice");
  expect(r.err).toEqual([]);
  return r.out[0]!;
}

async function airlock(argv: string[], reviewer = "reviewer-a-rita") {
  return fed.cli(["airlock", ...argv], reviewer);
}

async function show(taskId: string, reviewer = "reviewer-a-rita") {
  const r = await airlock(["show", taskId, "--json"], reviewer);
  expect(r.code).toBe(0);
  return JSON.parse(r.out.join("\n")) as {
    state: string;
    outputs: {
      outputId: string;
      name: string;
      digest: string;
      releasableDigest?: string;
      outcome: string;
      state: string;
      findings: { at: string; rule: string; outcome: string }[];
      output: CountOutput;
      releasableOutput?: CountOutput;
      decisions: { reviewer: string; verdict: string }[];
    }[];
  };
}

beforeAll(async () => {
  webhook = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      webhookNotices.push(JSON.parse(body));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  const port = (webhook.address() as { port: number }).port;

  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    reviewers: ["rita", "sam"],
    startLeaves: [],
    leafExtra: (tre) => ({
      datasets: [{ name: "patients", engine: "csv", path: `./patients-${tre}.csv`, ...allow }],
      projects: [
        {
          name: "diabetes",
          researchers: ["alice"],
          analyses: ["count", "summary", "crosstab"],
          datasets: ["patients"],
        },
      ],
      review:
        tre === "a"
          ? {
              notify: {
                command: ["/bin/sh", "-c", `cat > "$0/notice-$TREMESH_TASK_ID.json"`, "NOTICE_DIR"],
                webhook: `http://127.0.0.1:${port}/airlock`,
              },
            }
          : { approvalsRequired: 2, autoRelease: true },
    }),
  });
  // The notify command's argv names the folder it writes to: filled in now that the folder exists.
  noticeFile = join(fed.files.dir, "notices");
  await import("node:fs/promises").then((fs) => fs.mkdir(noticeFile));
  const leafA = fed.files.leafConfigs.a!;
  await writeFile(leafA, (await readFile(leafA, "utf8")).replace("NOTICE_DIR", noticeFile), { mode: 0o600 });
  await writePatientsCsv(rowsA, join(fed.files.dir, "patients-a.csv"));
  await writePatientsCsv(rowsB, join(fed.files.dir, "patients-b.csv"));
  await fed.startLeaf("a");
  await fed.startLeaf("b");
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
  await new Promise((resolve) => webhook?.close(resolve));
});

describe("airlock", () => {
  it("keeps a child short of released at the hub while a TRE's released status has no Release behind it, and says so", async () => {
    const taskId = await submit("a", REGION_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    // A buggy (or hostile) agent at TRE a claims the task released, signed with a's key, before any Release.
    const leaf = fed.leaves.get("a")!;
    const now = Date.now();
    const claim = sealEnvelope(
      "status",
      {
        id: newId(now),
        iat: now,
        exp: now + 60_000,
        taskId,
        tre: "a",
        state: "released",
        actor: "agent",
        reason: "1 output(s) released after review",
      },
      leaf.config.treKey,
    );
    await jetstream(leaf.dmz).publish(subjects.status("a", taskId), claim, { msgID: `claim.${taskId}` });
    const held = await waitFor("the hub to note the discrepancy", async () =>
      (await taskView(fed, taskId)).children.find((c) => c.tre === "a" && c.discrepancy !== undefined),
    );
    expect(held.state).toBe("outputs_pending_review");
    expect(held.discrepancy).toBe(
      "TRE a reported released, but the hub holds no Release of this task from it",
    );
    expect((await taskView(fed, taskId)).state).toBe("running");
    // Recorded in the hub's audit chain too.
    const audit = await auditRecords(fed.hub.services.js);
    expect(audit.filter((r) => r.action === "status.unconfirmed" && r.taskId === taskId)).toHaveLength(1);
    const status = await fed.cli(["status", taskId, "--json"], "alice");
    expect(JSON.parse(status.out.join("\n")).children[0].discrepancy).toBe(held.discrepancy);

    // The real Release arrives: the child reaches released, backed by it, and the discrepancy is gone.
    expect((await airlock(["approve", taskId])).code).toBe(0);
    const released = await childReaches(fed, taskId, "a", "released");
    expect(released.discrepancy).toBeUndefined();
    // How long the Release stays there is stated where the researcher reads the state.
    expect((await fed.cli(["status", taskId], "alice")).out).toContain(
      `    release: kept at the hub with no expiry (until the federation admin removes it); fetch it with tremesh results ${taskId}`,
    );
    expect(await releaseOf(fed, taskId, "a")).toBeDefined();
  });

  it("never lets a rejected output's values reach the hub, while the approved one arrives", async () => {
    const admin = await fed.connect("admin");
    const onHub: Collector = collect(admin, ">");
    const leafDmz: Collector = collect(fed.leaves.get("a")!.dmz, ">");
    await admin.flush();

    const approved = await submit("a", REGION_COUNT);
    const rejected = await submit("a", FINE_COUNT);
    await childReaches(fed, approved, "a", "outputs_pending_review");
    await childReaches(fed, rejected, "a", "outputs_pending_review");

    const listed = await airlock(["list"]);
    expect(listed.code).toBe(0);
    expect(listed.out.join("\n")).toContain(approved);
    expect(listed.out.join("\n")).toContain(rejected);

    expect((await airlock(["approve", approved])).code).toBe(0);
    const r = await airlock(["reject", rejected, "--reason", "cells of fewer than 10 patients"]);
    expect(r.code).toBe(0);
    await childReaches(fed, approved, "a", "released");
    await childReaches(fed, rejected, "a", "withheld");

    // What the rejected output held, as the executor made it and in its releasable form.
    const store = await AirlockStore.open(jetstream(fed.leaves.get("a")!.ctrl));
    const task = (await store.task(rejected))!;
    const secret = [
      (await store.data(rejected, task.outputIds[0]!))!,
      (await store.releasable(rejected, task.outputIds[0]!))!,
    ];
    const released = (await store.releasable(approved, (await store.task(approved))!.outputIds[0]!))!;

    // Every message on the hub (FED) and every message the TRE's DMZ saw, plus every hub stream's content.
    const seen: Uint8Array[] = [...onHub.messages.map((m) => m.data), ...leafDmz.messages.map((m) => m.data)];
    const jsm = await jetstreamManager(admin);
    for await (const s of jsm.streams.list()) {
      for (let seq = s.state.first_seq; seq <= s.state.last_seq && s.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(s.config.name, { seq }).catch(() => undefined);
        if (m) seen.push(m.data);
      }
    }
    const contains = (needle: Uint8Array) =>
      seen.some((hay) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0);
    expect(contains(released)).toBe(true); // positive control: the watchers do see released outputs
    for (const bytes of secret) expect(contains(bytes)).toBe(false);

    const release = await releaseOf(fed, rejected, "a");
    expect(release.outputs).toEqual([]);
    expect(release.withheld).toEqual([
      {
        outputId: task.outputIds[0],
        name: expect.any(String),
        reason: "rita: cells of fewer than 10 patients",
      },
    ]);
  });

  it("fails small cells, offers them suppressed, and keeps a final decision final", async () => {
    const taskId = await submit("a", FINE_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    const [out] = (await show(taskId)).outputs;
    expect(out!.outcome).toBe("fail");
    const small = out!.output.cells.filter((c) => c.n !== null && c.n > 0 && c.n < 10);
    expect(small.length).toBeGreaterThan(0);
    expect(out!.findings.filter((f) => f.rule === "min_cell").length).toBe(small.length);
    // The text view names each flagged cell by its group too, as the table shows it, not by its index alone.
    const text = (await airlock(["show", taskId])).out;
    for (const f of out!.findings.filter((x) => x.rule === "min_cell")) {
      const cell = out!.output.cells[Number(/^cells\[(\d+)\]$/.exec(f.at)![1])]!;
      const label = cell.key.map(formatKeyValue).join(" / ");
      expect(text).toContainEqual(
        expect.stringContaining(`min_cell     ${f.at} (${label}): n = ${cell.n} is below`),
      );
    }
    // The releasable form withholds exactly those cells, with a bound that holds the truth, and rounds the rest.
    const safe = out!.releasableOutput!;
    out!.output.cells.forEach((cell, i) => {
      const offered = safe.cells[i]!;
      if (cell.n !== null && cell.n < 10) {
        expect(offered.n).toBeNull();
        const s = safe.suppressed!.find((x) => x.at === `cells[${i}]`)!;
        expect(cell.n).toBeLessThanOrEqual(s.atMost!);
      } else {
        expect(offered.n! % 5).toBe(0);
        expect(Math.abs(offered.n! - cell.n!)).toBeLessThanOrEqual(2);
      }
    });

    // A decision signed by a key that is not one of a's reviewers (b's rita) is refused, and so is a researcher's.
    const nc = await fed.connect("reviewer-a-rita");
    const outsider = await fed.profile("reviewer-b-rita");
    const researcher = await fed.profile("alice");
    for (const key of [outsider.key!, researcher.key!, signingKeyFromSeed(generateKeyPair("user").seed)]) {
      await expect(
        sendDecision(nc, key, {
          tre: "a",
          taskId,
          outputId: out!.outputId,
          outputDigest: out!.releasableDigest!,
          verdict: "approve",
        }),
      ).rejects.toMatchObject({ code: "unknown_signer" });
    }
    // The CLI of a reviewer whose profile points at another reviewer's seed says which file to check.
    const ritaA = await readFile(fed.files.profiles["reviewer-a-rita"]!, "utf8");
    const strayFile = join(fed.files.dir, "reviewer-a-rita-stray.profile.yaml");
    const ritaB = await readFile(fed.files.profiles["reviewer-b-rita"]!, "utf8");
    const keyLine = /^signingKeyFile: .*$/m;
    await writeFile(strayFile, ritaA.replace(keyLine, ritaB.match(keyLine)![0]), { mode: 0o600 });
    fed.files.profiles["reviewer-a-rita-stray"] = strayFile;
    const stray = await airlock(["list"], "reviewer-a-rita-stray");
    expect(stray.code).toBe(5);
    expect(stray.err).toEqual([
      expect.stringMatching(/^tremesh airlock: signer U[A-Z0-9]{7}… is not trusted \(unknown_signer\); /),
    ]);
    expect(stray.err[0]).toContain(
      `TRE a knows no such key for rita: check signingKeyFile in ${strayFile}; it must be the seed whose public key leaf.yaml's reviewers list for rita`,
    );
    // An approval of bytes that are neither the output nor its releasable form is refused.
    const mine = (await fed.profile("reviewer-a-rita")).key!;
    await expect(
      sendDecision(nc, mine, {
        tre: "a",
        taskId,
        outputId: out!.outputId,
        outputDigest: "0".repeat(64),
        verdict: "approve",
      }),
    ).rejects.toMatchObject({ code: "digest_mismatch" });
    // Releasing the failing output as it is needs a reason.
    const asIs = await airlock(["approve", taskId, "--as-is"]);
    expect(asIs.code).toBe(2);

    expect((await airlock(["approve", taskId])).code).toBe(0);
    await childReaches(fed, taskId, "a", "released");
    const again = await airlock(
      ["reject", taskId, "--reason", "changed my mind", "--outputs", out!.outputId],
      "reviewer-a-sam",
    );
    expect(again.code).toBe(1);
    expect(again.err.join(" ")).toMatch(/already/);
    const release = await releaseOf(fed, taskId, "a");
    expect(release.outputs).toHaveLength(1);
    const releasedOutput = decodeOutput(release.outputs[0]!.data) as CountOutput;
    expect(releasedOutput).toEqual(safe);
    expect(release.reviewers).toEqual([{ name: "rita", publicKey: expect.any(String) }]);
  });

  it("needs two reviewers at a TRE with the two-reviewer rule, and auto-releases outputs that pass every check", async () => {
    const passing = await submit("b", REGION_COUNT);
    await childReaches(fed, passing, "b", "released");
    const auto = await releaseOf(fed, passing, "b");
    expect(auto.outputs).toHaveLength(1);
    expect(decodeOutput(auto.outputs[0]!.data)).toMatchObject({ kind: "count", rounding: 5 });
    // Said as what it was: nobody reviewed it.
    const autoStep = (await taskView(fed, passing)).children.find((c) => c.tre === "b")!.history.at(-1);
    expect(autoStep?.reason).toBe("1 output(s) released by the TRE's auto-release policy");

    const failing = await submit("b", FINE_COUNT);
    await childReaches(fed, failing, "b", "outputs_pending_review");
    const first = await airlock(["approve", failing], "reviewer-b-rita");
    expect(first.code).toBe(0);
    expect(first.out.join(" ")).toMatch(/another reviewer must approve/);
    expect((await show(failing, "reviewer-b-rita")).outputs[0]!.state).toBe("pending");
    const twice = await airlock(
      ["approve", failing, "--outputs", (await show(failing, "reviewer-b-rita")).outputs[0]!.outputId],
      "reviewer-b-rita",
    );
    expect(twice.code).toBe(1);
    // The reviews are independent: until sam has decided, the airlock tells sam that one reviewer decided, not
    // who or how, whichever client asks (here the CLI; test/pages.test.ts has the page).
    const blind = await airlock(["show", failing], "reviewer-b-sam");
    expect(blind.out.join("\n")).toContain("1 other reviewer(s) decided");
    expect(blind.out.join("\n")).not.toContain("rita");
    expect((await show(failing, "reviewer-b-sam")).outputs[0]).toMatchObject({ decisions: [], hidden: 1 });
    const listed = await airlock(["list", "--json"], "reviewer-b-sam");
    expect(listed.out.join("\n")).not.toContain("rita");
    expect((await show(failing, "reviewer-b-rita")).outputs[0]!.decisions).toHaveLength(1);
    expect((await airlock(["approve", failing], "reviewer-b-sam")).code).toBe(0);
    await childReaches(fed, failing, "b", "released");
    const release = await releaseOf(fed, failing, "b");
    expect(release.reviewers?.map((r) => r.name).sort()).toEqual(["rita", "sam"]);
    const reviewed = (await taskView(fed, failing)).children.find((c) => c.tre === "b")!.history.at(-1);
    expect(reviewed?.reason).toBe("1 output(s) released after review");
    expect(release.decisions).toHaveLength(2);
  });

  it("tells a reviewer who follows another TRE's task, or a made-up id, that this TRE's airlock holds none of it, naming the TRE", async () => {
    const atB = await submit("b", FINE_COUNT);
    await childReaches(fed, atB, "b", "outputs_pending_review");
    for (const taskId of [atB, newId()]) {
      const r = await airlock(["show", taskId]);
      expect(r.code).toBe(1);
      expect(r.err).toEqual([
        `tremesh airlock: no task ${taskId} in TRE a's airlock: none of its outputs is held here. A task another TRE ran is reviewed at that TRE, with a profile for it; a task still running here appears once its outputs are held; otherwise check the id (not_found)`,
      ]);
    }
    // Deciding on it says the same, and decides nothing at b.
    expect((await airlock(["approve", atB])).err.join(" ")).toContain(`no task ${atB} in TRE a's airlock`);
    expect((await show(atB, "reviewer-b-rita")).outputs[0]!.decisions).toEqual([]);
  });

  it("shows a task cancelled while awaiting review as never decided, and refuses a decision on it", async () => {
    const taskId = await submit("a", FINE_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    expect((await fed.cli(["cancel", taskId], "alice")).code).toBe(0);
    await childReaches(fed, taskId, "a", "cancelled");
    const shown = await airlock(["show", taskId]);
    expect(shown.code).toBe(0);
    expect(shown.out).toContain(
      "   checks: FAIL   state: never decided: the task is cancelled here, so nothing of it is released and no decision can be made",
    );
    const listed = await airlock(["list", "--all"]);
    const row = listed.out.findIndex((l) => l.startsWith(`${taskId}  cancelled`));
    expect(row).toBeGreaterThanOrEqual(0);
    expect(listed.out[row + 1]).toMatch(/checks fail\s+never decided$/);
    const late = await airlock(["approve", taskId]);
    expect(late.code).toBe(1);
    expect(late.err).toEqual([`tremesh airlock: task ${taskId} is cancelled here (task_ended)`]);
    // Nothing awaits anyone: it is not in the queue.
    expect((await airlock(["list"])).out.join("\n")).not.toContain(taskId);
  });

  it("refuses a reviewer whose profile signs with another reviewer's key, rather than deciding in that reviewer's name", async () => {
    const taskId = await submit("a", FINE_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    // sam's login and password, rita's seed: a profile copied from a colleague's.
    const sam = await readFile(fed.files.profiles["reviewer-a-sam"]!, "utf8");
    const rita = await readFile(fed.files.profiles["reviewer-a-rita"]!, "utf8");
    const keyLine = /^signingKeyFile: .*$/m;
    const mixed = join(fed.files.dir, "reviewer-a-sam-mixed.profile.yaml");
    await writeFile(mixed, sam.replace(keyLine, rita.match(keyLine)![0]), { mode: 0o600 });
    fed.files.profiles["reviewer-a-sam-mixed"] = mixed;
    const words = `signed with rita's key, but sent on sam's login: each reviewer signs with their own key (unknown_signer); TRE a knows no such key for sam: check signingKeyFile in ${mixed}`;
    for (const argv of [["list"], ["show", taskId], ["approve", taskId]]) {
      const r = await airlock(argv, "reviewer-a-sam-mixed");
      expect(r.code).toBe(5);
      expect(r.err.join(" ")).toContain(words);
    }
    // Nothing was decided in rita's name, and rita and sam, each with their own key, still review it.
    expect((await show(taskId)).outputs[0]!.decisions).toEqual([]);
    expect((await airlock(["approve", taskId], "reviewer-a-sam")).code).toBe(0);
    await childReaches(fed, taskId, "a", "released");
    expect((await releaseOf(fed, taskId, "a")).reviewers).toEqual([
      { name: "sam", publicKey: expect.any(String) },
    ]);
  });

  it("says on the review page, in words and not as a blank error, that the leaf cannot be reached", async () => {
    // rita's profile, naming a client port where no leaf listens (a leaf stopped, or restarting on another port).
    const free = createServer();
    await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve));
    const port = (free.address() as { port: number }).port;
    await new Promise((resolve) => free.close(resolve));
    const rita = await readFile(fed.files.profiles["reviewer-a-rita"]!, "utf8");
    const away = join(fed.files.dir, "reviewer-a-rita-away.profile.yaml");
    await writeFile(away, rita.replace(/^leaf: .*$/m, `leaf: nats://127.0.0.1:${port}`), { mode: 0o600 });
    const backend = natsBackend(await loadProfile(away));
    const host = "127.0.0.1:8765";
    const page = airlockPage(backend, { loginToken: "t0ken", allowedHosts: [host] });
    const login = await page.request("/login?token=t0ken", { headers: { host } });
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    for (const path of ["/", `/task/${newId()}`]) {
      const r = await page.request(path, { headers: { host, cookie } });
      expect(r.status).toBe(503);
      const text = await r.text();
      expect(text).toContain("<h1>The airlock cannot be reached</h1>");
      expect(text).toContain(
        `cannot reach the leaf at nats://127.0.0.1:${port}: connection refused; is the TRE&#39;s leaf running`,
      );
      expect(text).not.toMatch(/\bat .*\.js:\d+/);
    }
    await backend.close();
  });

  it("refuses to serve the review page for a profile whose key the TRE does not know, saying which file to check", async () => {
    const seedFile = join(fed.files.dir, "reviewer-a-rita-unknown.seed");
    await writeFile(seedFile, `${generateKeyPair("user").seed}\n`, { mode: 0o600 });
    const rita = await readFile(fed.files.profiles["reviewer-a-rita"]!, "utf8");
    const unknown = join(fed.files.dir, "reviewer-a-rita-unknown.profile.yaml");
    await writeFile(unknown, rita.replace(/^signingKeyFile: .*$/m, `signingKeyFile: ${seedFile}`), {
      mode: 0o600,
    });
    fed.files.profiles["reviewer-a-rita-unknown"] = unknown;
    const served = await airlock(["serve", "--port", "0"], "reviewer-a-rita-unknown");
    // As `tremesh airlock list` says it, with its exit code: not an unexpected error (exit 1).
    expect(served.code).toBe(5);
    expect(served.err).toEqual([
      expect.stringMatching(/^tremesh airlock: signer U[A-Z0-9]{7}… is not trusted \(unknown_signer\); /),
    ]);
    expect(served.err[0]).toContain(`TRE a knows no such key for rita: check signingKeyFile in ${unknown}`);
  });

  it("tells reviewers by an event inside the TRE, the TRE's command and its webhook, naming the task but no values", async () => {
    const reviewer = await fed.connect("reviewer-a-rita");
    const events = collect(reviewer, subjects.airlockEvents);
    await reviewer.flush();
    const taskId = await submit("a", REGION_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    await waitFor("the webhook notice", () =>
      webhookNotices.find((n) => (n as { taskId: string }).taskId === taskId),
    );
    // Read until the command has written the whole notice (on a busy machine the file may be read half-written).
    const fromCommand = await waitFor("the command's notice", async () => {
      const text = await readFile(join(noticeFile, `notice-${taskId}.json`), "utf8").catch(() => "");
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    });
    expect(fromCommand).toEqual({
      tre: "a",
      taskId,
      project: "diabetes",
      researcher: "alice",
      outputs: [{ outputId: expect.any(String), name: expect.any(String), outcome: "pass" }],
    });
    const event = await waitFor("the pending-review event", () =>
      events.messages.map((m) => m.json<{ taskId: string }>()).find((e) => e.taskId === taskId),
    );
    expect(event).toEqual(fromCommand);
  });

  it("still lists pending reviews after the TRE's agent restarts, and releases them afterwards", async () => {
    const taskId = await submit("a", REGION_COUNT);
    await childReaches(fed, taskId, "a", "outputs_pending_review");
    await fed.stopLeaf("a");
    await fed.startLeaf("a");
    const listed = await airlock(["list"]);
    expect(listed.out.join("\n")).toContain(taskId);
    expect((await airlock(["approve", taskId])).code).toBe(0);
    await childReaches(fed, taskId, "a", "released");
  });

  it("releases part of a task: the approved output leaves, the rejected one stays, and the task is partially released", async () => {
    // Two outputs of one task, held by an Airlock on TRE a's own leaf (the query executor makes one per task).
    const { config, ctrlJs, taskId, announced, airlock } = await airlockOnLeaf(fed, "a");
    const output = (groupBy: string[], n: number): ExecutorOutput => {
      const description = analysisOutput(
        {
          kind: "count",
          dataset: "patients",
          analysis: { kind: "count", dataset: "patients", groupBy },
          groupBy,
          cells: [{ key: ["x"], n }],
        },
        "",
      );
      return {
        name: `${groupBy[0]}.json`,
        mediaType: OUTPUT_MEDIA_TYPE,
        bytes: encodeOutput(description),
        description,
      };
    };
    const { outputs: held } = await airlock.hold(
      { taskId, project: "diabetes", researcher: "alice", kind: "count" },
      [output(["sex"], 120), output(["region"], 85)],
    );
    await airlock.afterHeld(taskId, { notify: false });
    const rita = (await fed.profile("reviewer-a-rita")).key!;
    const decide = (i: number, verdict: "approve" | "reject") => {
      const now = Date.now();
      return airlock.decide(
        sealEnvelope(
          "decision",
          {
            id: newId(),
            iat: now,
            exp: now + 60_000,
            taskId,
            tre: "a",
            outputId: held[i]!.outputId,
            outputDigest: verdict === "approve" ? held[i]!.releasableDigest! : held[i]!.digest,
            verdict,
            ...(verdict === "reject" ? { reason: "not part of the approved protocol" } : {}),
          },
          rita,
        ),
      );
    };
    expect(await decide(0, "approve")).toMatchObject({ status: "ok", output: { state: "released" } });
    expect(announced).toEqual([]); // one output is still pending: nothing leaves yet
    expect(await decide(1, "reject")).toMatchObject({ status: "ok", output: { state: "withheld" } });
    expect(announced).toEqual(["partially_released"]);
    const egress = (await (await AirlockStore.open(ctrlJs)).egress(taskId))!;
    const release = openTreRelease(Buffer.from(egress.envelope, "base64"), "a", config.treKey.publicKey);
    expect(release.outputs.map((o) => [o.name, (decodeOutput(o.data) as CountOutput).cells[0]!.n])).toEqual([
      ["sex.json", 120],
    ]);
    expect(release.withheld).toEqual([
      { outputId: held[1]!.outputId, name: "region.json", reason: "rita: not part of the approved protocol" },
    ]);
    expect(await (await AirlockStore.open(ctrlJs)).sent(taskId)).toBe(true);
  });

  it("stores a small output in one write, approved at once by auto-release, and a large one's bytes beside its record; both leave as released", async () => {
    const { config, ctrlJs, taskId, announced, airlock } = await airlockOnLeaf(fed, "a", {
      autoRelease: true,
    });
    const count = (cells: number): ExecutorOutput => {
      const description = analysisOutput(
        {
          kind: "count",
          dataset: "patients",
          analysis: { kind: "count", dataset: "patients", groupBy: ["region"] },
          groupBy: ["region"],
          cells: Array.from({ length: cells }, (_, i) => ({ key: [`region-${i}`], n: 100 + i })),
        },
        "",
      );
      return {
        name: `${cells}.json`,
        mediaType: OUTPUT_MEDIA_TYPE,
        bytes: encodeOutput(description),
        description,
      };
    };
    const small = count(3);
    const large = count(2000);
    expect(small.bytes.length).toBeLessThan(INLINE_MAX_BYTES / 2);
    expect(large.bytes.length).toBeGreaterThan(INLINE_MAX_BYTES);
    // Every write to the airlock's bucket is a publish to the entry's subject: this connection sees its own.
    const ctrl = fed.leaves.get("a")!.ctrl;
    const writes: string[] = [];
    const sub = ctrl.subscribe("$KV.AIRLOCK.>", {
      callback: (_e, m) => {
        if (m.subject.includes(taskId)) writes.push(m.subject.split(".")[2]!);
      },
    });
    await ctrl.flush();
    try {
      const held = await airlock.hold({ taskId, project: "diabetes", researcher: "alice", kind: "count" }, [
        small,
        large,
      ]);
      expect(held.outputs.map((o) => [o.outcome, o.state, o.inline !== undefined])).toEqual([
        ["pass", "released", true],
        ["pass", "released", false],
      ]);
      await airlock.afterHeld(taskId, { held, notify: false });
      expect(announced).toEqual(["released"]);
      await ctrl.flush();
      // The small output's record holds its bytes and its decision: one write. The large one's bytes and releasable
      // form have keys of their own. The task, then the Release built, and its small mark once it is sent.
      expect(writes.sort()).toEqual(["data", "egress", "output", "output", "safe", "sent", "task"]);
    } finally {
      sub.unsubscribe();
    }
    const store = await AirlockStore.open(ctrlJs);
    const egress = (await store.egress(taskId))!;
    const release = openTreRelease(Buffer.from(egress.envelope, "base64"), "a", config.treKey.publicKey);
    for (const [i, output] of [small, large].entries()) {
      const sent = release.outputs[i]!;
      const stored = (await store.task(taskId))!.outputIds[i]!;
      expect(new Uint8Array(sent.data)).toEqual(await store.releasable(taskId, stored));
      expect((decodeOutput(sent.data) as CountOutput).cells).toHaveLength(
        (decodeOutput(output.bytes) as CountOutput).cells.length,
      );
    }
    // One audit record an output: held, with the TRE's decision in it; no approval record of its own.
    const records = (await auditRecords(ctrlJs)).filter((r) => r.taskId === taskId);
    expect(records.map((r) => [r.action, r.details?.decision, r.details?.state])).toEqual([
      ["airlock.held", "approve", "released"],
      ["airlock.held", "approve", "released"],
    ]);
  });

  it("releases an approved CSV file beside a description, labelled with its media type, and the aggregator keeps it apart", async () => {
    const { config, ctrlJs, taskId, airlock } = await airlockOnLeaf(fed, "a");
    const description = analysisOutput(
      {
        kind: "count",
        dataset: "patients",
        analysis: { kind: "count", dataset: "patients", groupBy: ["sex"] },
        groupBy: ["sex"],
        cells: [{ key: ["x"], n: 120 }],
      },
      "",
    );
    const csv = new TextEncoder().encode("sex,n\nx,120\n");
    const notes = new TextEncoder().encode("pooled later\n");
    const { outputs: held } = await airlock.hold(
      { taskId, project: "diabetes", researcher: "alice", kind: "container" },
      [
        { name: "count.json", mediaType: OUTPUT_MEDIA_TYPE, bytes: encodeOutput(description), description },
        { name: "table.csv", mediaType: "text/csv", bytes: csv },
        // A label the Release cannot carry as it is: sent without its parameter, never blocking the Release.
        { name: "notes.txt", mediaType: "text/plain; charset=utf-8", bytes: notes },
      ],
    );
    expect(held.map((h) => [h.name, h.outcome])).toEqual([
      ["count.json", "pass"],
      ["table.csv", "review"],
      ["notes.txt", "review"],
    ]);
    await airlock.afterHeld(taskId, { notify: false });
    const rita = (await fed.profile("reviewer-a-rita")).key!;
    for (const h of held) {
      const now = Date.now();
      const decision = sealEnvelope(
        "decision",
        {
          id: newId(),
          iat: now,
          exp: now + 60_000,
          taskId,
          tre: "a",
          outputId: h.outputId,
          outputDigest: h.releasableDigest ?? h.digest,
          verdict: "approve",
        },
        rita,
      );
      expect(await airlock.decide(decision)).toMatchObject({ status: "ok", output: { state: "released" } });
    }
    const egress = (await (await AirlockStore.open(ctrlJs)).egress(taskId))!;
    const envelope = Buffer.from(egress.envelope, "base64");
    const release = openTreRelease(envelope, "a", config.treKey.publicKey);
    expect(release.outputs.map((o) => [o.name, o.mediaType])).toEqual([
      ["count.json", undefined],
      ["table.csv", "text/csv"],
      ["notes.txt", "text/plain"],
    ]);

    const { accepted, excluded } = verifyReleases(
      taskId,
      [{ tre: "a", envelope }],
      new Map([["a", config.treKey.publicKey]]),
    );
    expect(excluded).toEqual([]);
    expect(accepted[0]?.outputs.map((o) => o.name)).toEqual(["count.json"]);
    expect(accepted[0]?.files.map((f) => [f.name, f.mediaType, new TextDecoder().decode(f.data)])).toEqual([
      ["table.csv", "text/csv", "sex,n\nx,120\n"],
      ["notes.txt", "text/plain", "pooled later\n"],
    ]);
  });

  it("gives a reviewer's login the review API and nothing else of the TRE's controlled account", async () => {
    const nc = await fed.connect("reviewer-a-rita");
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await expect(jsm.streams.info("KV_AIRLOCK")).rejects.toThrow(/permission/i);
    await expect(jsm.streams.info("KV_AGENT_TASKS")).rejects.toThrow(/permission/i);
    await expect(jsm.streams.purge("AUDIT")).rejects.toThrow(/permission/i);
    // The audit log is read by sequence, never through a consumer: none to make, and none of another's to delete.
    await expect(jsm.consumers.add("AUDIT", { ack_policy: AckPolicy.None })).rejects.toThrow(/permission/i);
    await expect(
      jsm.consumers.add("AUDIT", { durable_name: "kept", ack_policy: AckPolicy.Explicit }),
    ).rejects.toThrow(/permission/i);
    await expect(jsm.consumers.delete("AUDIT", "anyone")).rejects.toThrow(/permission/i);
    expect((await jsm.direct.getMessage("AUDIT", { seq: 1 }))?.seq).toBe(1);
    await expect(nc.request("$KV.AIRLOCK.output.x.y", "forged", { timeout: 2_000 })).rejects.toThrow(
      /permission/i,
    );
    // Garbage on the review API gets a clear refusal, and the airlock goes on answering.
    for (const subject of [subjects.airlockDecide, subjects.airlockQuery]) {
      const reply = unpack(
        (await nc.request(subject, new Uint8Array([0xc1, 0x00, 0xff]), { timeout: 5_000 })).data,
      );
      expect(reply).toMatchObject({ status: "error", code: "malformed" });
    }
    expect((await airlock(["list"])).code).toBe(0);
    // Another reviewer's replies are out of reach too.
    const spy = nc.subscribe("_INBOX_sam.>");
    const closed = spy.closed.then(
      (e) => String(e),
      (e: unknown) => String(e),
    );
    await nc.flush();
    expect(await closed).toMatch(/permission/i);
  });

  it("keeps every airlock event in the TRE's hash-chained audit log, verifiable by a reviewer", async () => {
    const r = await fed.cli(["audit", "verify", "--json"], "reviewer-a-sam");
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out.join("")) as { ok: boolean; count: number };
    expect(result.ok).toBe(true);
    expect(result.count).toBeGreaterThan(10);
  });
});
