/**
 * Operator mode, built the way its people build it and with nothing else: the admin runs `tremesh admin init`,
 * starts the hub from the hub.yaml it wrote, and onboards two TREs and two researchers from the public keys
 * they made themselves (`tremesh leaf keygen`, `tremesh keygen`); each TRE's operator completes the leaf.yaml of
 * its bundle. Then a task runs end to end, researchers' creds are held to what a researcher needs, and
 * revocations take effect on the running hub.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, credsAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { freePorts } from "../admin/federation-files.js";
import { sendSubmission, signSubmission } from "../aggregator/index.js";
import { run } from "../cli/main.js";
import { connectProfile, loadProfile } from "../cli/profile.js";
import { fetchLeafz, waitFor } from "../common/index.js";
import {
  generatePatients,
  type PatientRow,
  patientProfiles,
  SYNTHETIC_PATIENT_COLUMNS,
  writePatientsCsv,
} from "../fixtures/index.js";
import { type HubNode, loadHubConfig, startHubNode } from "../hub/index.js";
import { type LeafNode, type LeafNodeEvent, loadLeafConfig, startLeafNode } from "../leaf/index.js";
import { type AnalysisSpec, HUB_DOMAIN, jsApiPrefix, newId, streams, subjects } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { projectTextFlags } from "./harness/project-text.js";
import { referenceOutput } from "./harness/reference-stats.js";

const rows: Record<string, PatientRow[]> = {
  a: generatePatients(patientProfiles.north, 31),
  b: generatePatients(patientProfiles.small, 32),
};
const COUNT: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };
/** TRE b's minimum cell count: COUNT's cells pass it, a count by four columns of b's 300 patients does not. */
const B_MIN_CELL = 10;

let dir: string;
let adminDir: string;
let hub: HubNode;
const leaves = new Map<string, LeafNode>();
/** Every leaf's events, with its TRE. */
const leafEvents: Array<LeafNodeEvent & { tre: string }> = [];
const researcherProfiles: Record<string, string> = {};
const signingKeys: Record<string, string> = {};
const opened: NatsConnection[] = [];

async function tremesh(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

async function ok(...argv: string[]): Promise<string[]> {
  const r = await tremesh(...argv);
  if (r.code !== 0) throw new Error(`tremesh ${argv.join(" ")}: exit ${r.code}: ${r.err.join(" ")}`);
  return r.out;
}

/** The hub's accounts of the TREs' leaf links, from its monitoring endpoint. */
async function linkedAccounts(): Promise<string[]> {
  return (await fetchLeafz(hub.server.monitorUrl!)).leafs.map((l) => l.account);
}

async function treAccount(tre: string): Promise<string> {
  const state = JSON.parse((await ok("admin", "list", "--json", "--dir", adminDir)).join("\n")) as {
    tres: Record<string, { account: string }>;
  };
  return state.tres[tre]!.account;
}

/** A connection as the hub's operations user in a TRE's account (what `admin add-tre` gave the hub). */
async function treOps(tre: string): Promise<NatsConnection> {
  const nc = await connect({
    servers: hub.clientUrl,
    tls: hub.clientTls,
    authenticator: credsAuthenticator(await readFile(join(adminDir, "hub", "tre-creds", `${tre}.creds`))),
  });
  opened.push(nc);
  return nc;
}

async function countFile(): Promise<string> {
  const file = join(dir, `count-${newId()}.json`);
  await writeFile(file, JSON.stringify(COUNT));
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "tremesh-operator-"));
  adminDir = join(dir, "admin");
  const [client, leaf, monitor] = (await freePorts(3)) as [number, number, number];
  await ok(
    "admin",
    "init",
    "--dir",
    adminDir,
    "--client-port",
    String(client),
    "--leaf-port",
    String(leaf),
    "--monitor-port",
    String(monitor),
  );
  hub = await startHubNode(await loadHubConfig(join(adminDir, "hub", "hub.yaml")), {
    sourceCheckIntervalMs: 1_000,
  });

  // Each TRE makes its signing key inside the TRE and gives the admin only the public key.
  for (const tre of ["a", "b"]) {
    const treDir = join(dir, `tre-${tre}`);
    await mkdir(treDir, { recursive: true });
    const [key] = await ok("leaf", "keygen", "--out", join(treDir, "tre.seed"));
    signingKeys[tre] = key!;
    await ok("admin", "add-tre", tre, "--signing-key", key!, "--dir", adminDir);
  }
  for (const name of ["alice", "bob"]) {
    const seed = join(dir, `${name}.seed`);
    const [key] = await ok("keygen", "--out", seed);
    signingKeys[name] = key!;
    await ok("admin", "add-researcher", name, "--signing-key", key!, "--dir", adminDir);
    // The researcher completes the bundle's profile with where their seed is.
    const bundle = join(adminDir, "researchers", name);
    const profile = parse(await readFile(join(bundle, "profile.yaml"), "utf8")) as Record<string, unknown>;
    researcherProfiles[name] = join(bundle, "profile.yaml");
    await writeFile(researcherProfiles[name], stringify({ ...profile, signingKeyFile: seed }));
  }
  const until = new Date(Date.now() + 30 * 86_400_000).toISOString().slice(0, 10);
  await ok(
    "admin",
    "project",
    "create",
    "study",
    "--tres",
    "a,b",
    "--members",
    "alice,bob",
    "--until",
    until,
    "--dir",
    adminDir,
  );

  // Each TRE's operator completes the bundle's leaf.yaml with its own approvals and data, and starts its leaf.
  for (const tre of ["a", "b"]) {
    const bundle = join(adminDir, "tres", tre);
    const template = parse(await readFile(join(bundle, "leaf.yaml"), "utf8")) as Record<string, unknown>;
    await writePatientsCsv(rows[tre]!, join(bundle, "patients.csv"));
    await writeFile(
      join(bundle, "leaf.yaml"),
      stringify({
        ...template,
        signingKeyFile: join(dir, `tre-${tre}`, "tre.seed"),
        heartbeatIntervalMs: 500,
        researchers: ["alice", "bob"].map((name) => ({ name, publicKey: signingKeys[name] })),
        datasets: [
          {
            name: "patients",
            engine: "csv",
            path: "./patients.csv",
            columns: { ...SYNTHETIC_PATIENT_COLUMNS },
            identifiers: ["patient_id"],
          },
        ],
        projects: [
          { name: "study", researchers: ["alice", "bob"], analyses: ["count"], datasets: ["patients"] },
        ],
        disclosure: { roundingBase: 1, minCellCount: tre === "b" ? B_MIN_CELL : 1, zerosDisclosive: false },
        review: { autoRelease: true },
      }),
    );
    leaves.set(
      tre,
      await startLeafNode(await loadLeafConfig(join(bundle, "leaf.yaml")), {
        hubLinkGraceMs: 2_000,
        onEvent: (e) => leafEvents.push({ tre, ...e }),
      }),
    );
  }
  const accounts = [await treAccount("a"), await treAccount("b")];
  await waitFor("both leaf links", async () => {
    const linked = await linkedAccounts();
    return accounts.every((a) => linked.includes(a));
  });
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(opened.map((nc) => nc.close()));
  await Promise.allSettled([...leaves.values()].map((l) => l.stop()));
  await hub?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("a federation built only with tremesh admin commands", () => {
  it("runs a task end to end: submitted, run in both TREs, released, combined exactly", async () => {
    const submitted = await tremesh(
      "submit",
      "--project",
      "study",
      "--tres",
      "a,b",
      await countFile(),
      "--wait",
      "--timeout-ms",
      "30000",
      "--profile",
      researcherProfiles.alice!,
    );
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const r = await tremesh("aggregate", submitted.out[0]!, "--json", "--profile", researcherProfiles.alice!);
    expect(r.code, r.err.join("\n")).toBe(0);
    const doc = JSON.parse(r.out.join("\n")) as { outputs: { result: unknown }[]; excluded: unknown[] };
    expect(doc.excluded).toEqual([]);
    expect(
      expectMatchesTruth(
        doc.outputs[0]!.result as Record<string, unknown>,
        referenceOutput(COUNT, [...rows.a!, ...rows.b!]),
        {
          exact: true,
        },
      ),
    ).toBeGreaterThan(0);
  });

  it("binds each TRE's leaf link to that TRE's own account, and refuses its creds as a client", async () => {
    const linked = await linkedAccounts();
    expect(linked.sort()).toEqual([await treAccount("a"), await treAccount("b")].sort());
    const leafCreds = await readFile(join(adminDir, "tres", "a", "hub-link.creds"));
    await expect(
      connect({
        servers: hub.clientUrl,
        tls: hub.clientTls,
        authenticator: credsAuthenticator(leafCreds),
        maxReconnectAttempts: 0,
      }),
    ).rejects.toThrow(/authoriz/i);
  });

  it("refuses a researcher's creds to publish a Dispatch, read another's results, or touch a TRE account", async () => {
    const bob = await connectProfile(await loadProfile(researcherProfiles.bob));
    opened.push(bob);
    const tasks = await jetstreamManager(await treOps("a"));
    const before = (await tasks.streams.info(streams.tasks)).state.messages;

    // A Dispatch straight into TRE a's queue: not even published.
    await expect(
      jetstream(bob).publish(subjects.dispatch("a", newId()), new Uint8Array(8), { timeout: 2_000 }),
    ).rejects.toThrow();
    for (const subject of ["_INBOX_alice.>", subjects.treOutbound("a"), subjects.treInbound("a"), "$JS.>"]) {
      const sub = bob.subscribe(subject);
      expect(String(await sub.closed), subject).toMatch(/Permissions Violation for Subscription/);
    }
    // Neither the JetStream API nor any TRE account's is reachable from RESEARCH.
    for (const subject of [
      "$JS.API.INFO",
      `$JS.API.STREAM.INFO.${streams.tasks}`,
      `${jsApiPrefix(HUB_DOMAIN)}.INFO`,
    ]) {
      await expect(bob.request(subject, undefined, { timeout: 1_000 }), subject).rejects.toThrow();
    }
    expect((await tasks.streams.info(streams.tasks)).state.messages).toBe(before);

    // Alice's results, asked for by bob over the researcher API: as unknown as any other task.
    const submitted = await tremesh(
      "submit",
      "--project",
      "study",
      "--tres",
      "a",
      await countFile(),
      "--profile",
      researcherProfiles.alice!,
    );
    const results = await tremesh("results", submitted.out[0]!, "--profile", researcherProfiles.bob!);
    expect(results.code).not.toBe(0);
    expect(results.err.join(" ")).toMatch(/not_found/);
  });

  it("keeps a TRE's leaf link from managing its own hub account's JetStream", async () => {
    const tasks = await jetstreamManager(await treOps("a"));
    // The TRE's side of its link (DMZ) asks the hub to delete its TASKS stream: the hub never offers that API.
    const dmz = leaves.get("a")!.dmz;
    await expect(
      dmz.request(`${jsApiPrefix(HUB_DOMAIN)}.STREAM.DELETE.${streams.tasks}`, undefined, { timeout: 1_500 }),
    ).rejects.toThrow();
    await expect(
      dmz.request(`${jsApiPrefix(HUB_DOMAIN)}.STREAM.PURGE.${streams.tasks}`, undefined, { timeout: 1_500 }),
    ).rejects.toThrow();
    expect((await tasks.streams.info(streams.tasks)).config.name).toBe(streams.tasks);
  });
});

describe("revocation on the running hub", () => {
  it("closes a revoked researcher's connection, refuses the next one, and refuses their next submission", async () => {
    const started = hub.server.pid;
    const bob = await connectProfile(await loadProfile(researcherProfiles.bob));
    const bobKey = (await loadProfile(researcherProfiles.bob)).key!;
    // Bob watches a task of his that waits for review (small cells at b fail the checks), as he is revoked.
    const cells = new Map<string, number>();
    for (const r of rows.b!) {
      const group = JSON.stringify([r.region, r.sex, r.smoker, r.diabetes]);
      cells.set(group, (cells.get(group) ?? 0) + 1);
    }
    expect(Math.min(...cells.values()), "the smallest cell of b's count").toBeLessThan(B_MIN_CELL);
    const small = join(dir, `small-${newId()}.json`);
    await writeFile(
      small,
      JSON.stringify({
        kind: "count",
        dataset: "patients",
        groupBy: ["region", "sex", "smoker", "diabetes"],
      }),
    );
    const [taskId] = await ok(
      "submit",
      "--project",
      "study",
      "--tres",
      "b",
      small,
      "--profile",
      researcherProfiles.bob!,
    );
    const lines: string[] = [];
    const watching = run(["watch", taskId!, "--profile", researcherProfiles.bob!], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    await waitFor("bob's watch to show the task", async () => lines.length > 0);
    await ok("admin", "revoke", "researcher", "bob", "--dir", adminDir);
    // Revoking again pushes it again, and says it stood already.
    expect(await ok("admin", "revoke", "researcher", "bob", "--dir", adminDir)).toEqual([
      expect.stringMatching(
        /^researcher bob revoked \(already since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; pushed again\): connections closed, submissions refused$/,
      ),
    ]);
    // Still on the project's record, marked: the admin sees why bob's submissions are refused.
    expect(await ok("admin", "project", "show", "study", "--dir", adminDir)).toContain(
      "members       alice, bob (revoked: refused)",
    );
    // The name stays taken, and the admin is told what to do with bob's new key.
    const [newKey] = await ok("keygen", "--out", join(dir, "bob-new.seed"));
    const readd = await tremesh(
      "admin",
      "add-researcher",
      "bob",
      "--signing-key",
      newKey!,
      "--dir",
      adminDir,
    );
    expect(readd.code).toBe(1);
    expect(readd.err).toEqual([
      "tremesh admin: researcher bob was revoked; researcher names are not reused: add them under a new name",
    ]);

    await expect(bob.closed()).resolves.toBeDefined();
    // Told the hub ended his connection because of the revocation, not that the hub is down.
    expect(await watching, lines.join("\n")).toBe(5);
    expect(lines.at(-1)).toMatch(
      /^tremesh watch: the hub closed bob's connection: .*(Revoked|Authorization Violation).*; ask the federation admin whether your access was revoked$/i,
    );
    const again = await tremesh("tres", "--profile", researcherProfiles.bob!);
    expect(again.code).toBe(5);
    expect(again.err.join(" ")).toMatch(/refused bob/);
    // Bob's signing key is refused whatever connection carries it (here alice's).
    const alice = await connectProfile(await loadProfile(researcherProfiles.alice));
    opened.push(alice);
    const reply = await sendSubmission(
      alice,
      signSubmission(bobKey, { project: "study", tres: ["a"], analysis: COUNT }),
    );
    expect(reply).toMatchObject({ status: "rejected", code: "researcher_revoked" });
    expect((reply as { message: string }).message).toMatch(
      /^bob's access was revoked on .*; ask the federation admin$/,
    );
    expect(hub.server.pid).toBe(started);
  });

  it("disconnects a revoked TRE's leaf and keeps it out; the TRE leaves its projects", async () => {
    const started = hub.server.pid;
    const b = await treAccount("b");
    await ok("admin", "revoke", "tre", "b", "--dir", adminDir);
    await waitFor("b's leaf link closed", async () => !(await linkedAccounts()).includes(b));
    // The leaf keeps dialling; the hub keeps refusing it, and the leaf says so in its log, with its server's words.
    const down = await waitFor("b's leaf says its hub link is down", async () =>
      leafEvents.find((e) => e.tre === "b" && e.type === "hub-link-down"),
    );
    expect(down).toMatchObject({ serverSays: expect.stringMatching(/Authorization Violation/i) });
    expect(await linkedAccounts()).not.toContain(b);

    const project = await tremesh("admin", "project", "show", "study", "--json", "--dir", adminDir);
    expect((JSON.parse(project.out.join("\n")) as { tres: string[] }).tres).toEqual(["a"]);
    const refused = await tremesh(
      "submit",
      "--project",
      "study",
      "--tres",
      "b",
      await countFile(),
      "--profile",
      researcherProfiles.alice!,
    );
    expect(refused.code).toBe(5);
    expect(refused.err.join(" ")).toMatch(/not on project study/);
    const still = await tremesh(
      "submit",
      "--project",
      "study",
      "--tres",
      "a",
      await countFile(),
      "--wait",
      "--timeout-ms",
      "30000",
      "--profile",
      researcherProfiles.alice!,
    );
    expect(still.code, still.err.join("\n")).toBe(0);
    expect(hub.server.pid).toBe(started);
  });
});

describe("tremesh admin's own refusals", () => {
  it("refuses a second init of the same folder, and bad arguments, changing nothing", async () => {
    const before = await readFile(join(adminDir, "federation.json"), "utf8");
    expect((await tremesh("admin", "init", "--dir", adminDir)).code).toBe(1);
    const noKey = await tremesh("admin", "add-tre", "c", "--dir", adminDir);
    expect(noKey.code).toBe(2);
    expect(noKey.err.join(" ")).toMatch(/--signing-key/);
    const taken = await tremesh("admin", "add-tre", "c", "--signing-key", signingKeys.a!, "--dir", adminDir);
    expect(taken.err.join(" ")).toMatch(/already registered \(to a\)/);
    const badName = await tremesh(
      "admin",
      "add-tre",
      "Hub!",
      "--signing-key",
      signingKeys.a!,
      "--dir",
      adminDir,
    );
    expect(badName.code).toBe(2);
    expect(await readFile(join(adminDir, "federation.json"), "utf8")).toBe(before);
  });

  it("refuses project edits that name what the federation does not hold, and keeps the project as it was", async () => {
    const until = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const refusals = [
      [["create", "other", "--tres", "zz", "--until", until], /no TRE zz in this federation/],
      [["create", "other", "--members", "carol", "--until", until], /no researcher carol; add them first/],
      [["create", "study", "--until", until], /project study exists; use 'admin project set'/],
      [["add-member", "study", "carol"], /no researcher carol/],
      [["add-tre", "study", "zz"], /no TRE zz/],
      [["show", "nothing"], /no project "nothing"/],
      [["set", "nothing", "--title", "T"], /no project "nothing"/],
      [
        ["remove-member", "study", "carol"],
        /^tremesh admin: carol is not a member of project study; nothing changed$/,
      ],
      [["remove-tre", "study", "zz"], /^tremesh admin: zz is not a TRE of project study; nothing changed$/],
    ] as const;
    for (const [args, message] of refusals) {
      const r = await tremesh("admin", "project", ...args, "--dir", adminDir);
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.err.join(" ")).toMatch(message);
    }
    const shown = await ok("admin", "project", "show", "study", "--json", "--dir", adminDir);
    expect(JSON.parse(shown.join("\n"))).toMatchObject({ name: "study" });
  });
  it("takes --until DAY as the whole of that day, so a project until today takes submissions today", async () => {
    const today = new Date().toISOString().slice(0, 10);
    await ok("admin", "project", "create", "today", "--until", today, "--dir", adminDir);
    const shown = JSON.parse(
      (await ok("admin", "project", "show", "today", "--json", "--dir", adminDir)).join("\n"),
    );
    expect(new Date(shown.endsAt).toISOString()).toBe(`${today}T23:59:59.999Z`);
  });

  it("keeps a project's title, lay summary and organisation, and refuses a bad one naming its flag, changing nothing", async () => {
    const until = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const text = {
      title: "Blood pressure after 60 — a cohort study",
      laySummary: "We compare blood pressure across two regions to plan local clinics; no one is identified.",
      organisation: "Northtown Health Data Institute",
    };
    const created = await ok(
      "admin",
      "project",
      "create",
      "bp-study",
      "--tres",
      "a",
      "--members",
      "alice",
      "--until",
      until,
      ...projectTextFlags(text),
      "--dir",
      adminDir,
    );
    expect(created).toEqual([
      `project       bp-study — ${text.title}`,
      expect.stringMatching(/^approved {6}/),
      "tres          a",
      "members       alice",
      `organisation  ${text.organisation}`,
      `lay summary   ${text.laySummary}`,
    ]);
    const show = async (name: string) =>
      JSON.parse((await ok("admin", "project", "show", name, "--json", "--dir", adminDir)).join("\n"));
    expect(await show("bp-study")).toMatchObject(text);
    // A project made before these fields existed (no title, summary or organisation) still loads.
    expect(Object.keys(await show("study")).sort()).toEqual([
      "endsAt",
      "members",
      "name",
      "startsAt",
      "tres",
    ]);

    // `set` changes one and keeps the others; "" removes one.
    await ok(
      "admin",
      "project",
      "set",
      "bp-study",
      "--organisation",
      "Southtown University",
      "--dir",
      adminDir,
    );
    await ok("admin", "project", "set", "bp-study", "--lay-summary", "", "--dir", adminDir);
    const changed = await show("bp-study");
    expect(changed).toMatchObject({ title: text.title, organisation: "Southtown University" });
    expect(changed).not.toHaveProperty("laySummary");

    const refusals = [
      [["set", "bp-study", "--title", "two\nlines"], /--title must be one line of printable text/],
      [["set", "bp-study", "--title", "x".repeat(301)], /--title has 301 characters; at most 300/],
      [
        ["set", "bp-study", "--lay-summary", "bell\u0007"],
        /--lay-summary must be one line of printable text/,
      ],
      [
        ["set", "bp-study", "--lay-summary", "x".repeat(5001)],
        /--lay-summary has 5001 characters; at most 5000/,
      ],
      [["set", "bp-study", "--organisation", "   "], /--organisation is blank/],
      [
        ["set", "bp-study", "--organisation", "x".repeat(201)],
        /--organisation has 201 characters; at most 200/,
      ],
      [["create", "bp-other", "--until", until, "--title", ""], /--title is empty/],
      [
        ["create", "bp-other", "--until", until, "--organisation", "a\u2028b"],
        /--organisation must be one line/,
      ],
    ] as const;
    for (const [args, message] of refusals) {
      const r = await tremesh("admin", "project", ...args, "--dir", adminDir);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.err.join(" ")).toMatch(message);
    }
    expect(await show("bp-study")).toEqual(changed);
    expect((await tremesh("admin", "project", "show", "bp-other", "--dir", adminDir)).code).toBe(1);
  });
});

describe("tremesh admin and the hub's resolver", () => {
  it("pushes every account JWT again on request", async () => {
    const r = await tremesh("admin", "push", "--json", "--dir", adminDir);
    expect(r.code, r.err.join(" ")).toBe(0);
    const pushed = (JSON.parse(r.out.join("\n")) as { pushed: string[] }).pushed.map((p) =>
      p.split("/").pop(),
    );
    expect(pushed.sort()).toEqual(["FED.jwt", "RESEARCH.jwt", "SYS.jwt", "TRE_a.jwt", "TRE_b.jwt"]);
    // Re-pushing kept the revocations: bob is still refused.
    expect((await tremesh("tres", "--profile", researcherProfiles.bob!)).code).toBe(5);
  });

  it("refuses a change while the hub is down, saying so, and changes nothing", async () => {
    const before = await readFile(join(adminDir, "federation.json"), "utf8");
    await hub.stop();
    const [key] = await ok("keygen", "--out", join(dir, "carol.seed"));
    const r = await tremesh("admin", "add-researcher", "carol", "--signing-key", key!, "--dir", adminDir);
    expect(r.code).toBe(4);
    expect(r.err.join(" ")).toMatch(/cannot reach the hub .* nothing was changed/);
    expect(await readFile(join(adminDir, "federation.json"), "utf8")).toBe(before);
  });
});
