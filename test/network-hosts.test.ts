/**
 * A federation spread over separate network hosts (Linux network namespaces joined by veth links through a
 * switch, addresses in 198.51.100.0/24): the hub on one host, TREs a and b each on its own, the researcher and
 * the admin on a desk host; every party its own `tremesh … start --config` process, every command one more
 * process on its person's host. A task runs end to end: submitted from the desk, run in both TREs, approved by
 * each TRE's reviewer inside the TRE, combined exactly.
 *
 * It runs twice, on hosts of its own each time: over TLS (`tls://` URLs, the hub's certificate naming its host
 * address, from a CA made for the run that every leaf.yaml and profile pins), and as the plaintext control run
 * (`insecure: true` in hub.yaml, each leaf.yaml and each profile). tcpdump captures the hub's link during the
 * task. The released count table's group-by values carry a token made for this run (each TRE's `region` values
 * are prefixed with it): in the plaintext run the capture holds that token, in each TRE's link to the hub and in
 * the hub's answer to the researcher, which shows the capture sees the released output; over TLS it holds it
 * nowhere, and each of the researcher's connections opens with a TLS handshake.
 *
 * Needs root (network namespaces) and tcpdump (`npm run setup` installs it); skipped, with the reason in its
 * name, where a machine cannot. Runs the built CLI: `npx tsc -p tsconfig.build.json` first.
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import { generatePatients, type PatientRow, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import type { AnalysisSpec, TaskView } from "../protocol/index.js";
import { expectMatchesTruth } from "./harness/combined-truth.js";
import { type HostFederation, HUB_ADDRESS, startHostFederation } from "./harness/host-federation.js";
import { networkHostsUnavailable, tcpdumpUnavailable } from "./harness/netns.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { readCapture, streamsCarrying } from "./harness/pcap.js";
import { referenceOutput } from "./harness/reference-stats.js";
import { uniqueToken } from "./harness/unique.js";

const TRES = ["a", "b"] as const;
/** Made for this run: no byte string of the capture carries it unless a released output crossed in plaintext. */
const MARKER = `zq${uniqueToken()}${uniqueToken()}`;
const rows: Record<string, PatientRow[]> = Object.fromEntries(
  TRES.map((tre, i) => [
    tre,
    generatePatients(patientProfiles.small, 70 + i, `${tre.toUpperCase()}`).map((r) => ({
      ...r,
      region: `${MARKER}-${r.region}`,
    })),
  ]),
);
const COUNT: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["region", "sex"] };

const unavailable = await networkHostsUnavailable();
const noTcpdump = unavailable ?? (await tcpdumpUnavailable());

async function cliOk(fed: HostFederation, argv: string[], profile: string): Promise<string[]> {
  const r = await fed.cli(argv, profile);
  if (r.code !== 0)
    throw new Error(`tremesh ${argv.join(" ")} (${profile}): exit ${r.code}: ${r.err.join("\n")}`);
  return r.out;
}

async function taskView(fed: HostFederation, taskId: string): Promise<TaskView> {
  return JSON.parse((await cliOk(fed, ["status", taskId, "--json"], "alice")).join("\n")) as TaskView;
}

/**
 * The task end to end: the researcher submits on the desk; each TRE's reviewer, on the TRE's host, waits for it
 * in the airlock and approves it; the researcher waits for the task to complete and aggregates. Resolves with the
 * aggregate's combined result.
 */
async function runTask(fed: HostFederation): Promise<Record<string, unknown>> {
  const analysis = join(fed.dir, `count-${uniqueToken()}.json`);
  await writeFile(analysis, JSON.stringify(COUNT));
  const [taskId] = await cliOk(
    fed,
    ["submit", "--project", "diabetes", "--tres", TRES.join(","), analysis],
    "alice",
  );
  for (const tre of TRES) {
    const reviewer = `reviewer-${tre}-rita`;
    await waitFor(
      `task ${taskId} in TRE ${tre}'s airlock`,
      async () => {
        const held = JSON.parse((await cliOk(fed, ["airlock", "list", "--json"], reviewer)).join("\n")) as {
          taskId: string;
        }[];
        return held.some((t) => t.taskId === taskId);
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await cliOk(fed, ["airlock", "approve", taskId!], reviewer);
  }
  const view = await waitFor(
    `task ${taskId} to complete`,
    async () => {
      const v = await taskView(fed, taskId!);
      return v.state === "completed" && v;
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );
  expect(view.children.map((c) => [c.tre, c.state])).toEqual(TRES.map((t) => [t, "released"]));
  const doc = JSON.parse((await cliOk(fed, ["aggregate", taskId!, "--json"], "alice")).join("\n")) as {
    outputs: { result: Record<string, unknown> }[];
    excluded: unknown[];
  };
  expect(doc.excluded).toEqual([]);
  expect(doc.outputs).toHaveLength(1);
  return doc.outputs[0]!.result;
}

/** Starts the federation on its hosts and does what its admin does before alice can submit. */
async function startOnHosts(transport: "tls" | "insecure"): Promise<HostFederation> {
  const fed = await startHostFederation({
    transport,
    tres: TRES,
    researchers: ["alice"],
    reviewers: ["rita"],
    heartbeatIntervalMs: 1_000,
    data: Object.fromEntries(
      TRES.map((tre) => [`patients-${tre}.csv`, (path: string) => writePatientsCsv(rows[tre]!, path)]),
    ),
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "diabetes" }),
  });
  try {
    const key = fed.files.researcherKeys.alice!;
    await cliOk(fed, ["admin", "add-researcher", "alice", "--signing-key", key], "admin");
    const until = new Date(Date.now() + 30 * 86_400_000).toISOString();
    const members = ["--tres", TRES.join(","), "--members", "alice", "--until", until];
    await cliOk(fed, ["admin", "project", "create", "diabetes", ...members], "admin");
    return fed;
  } catch (error) {
    await fed[Symbol.asyncDispose]();
    throw error;
  }
}

/** A TLS record of type handshake (the ClientHello), as every TLS connection's client opens it. */
const isTlsHandshake = (bytes: Buffer) => bytes[0] === 0x16 && bytes[1] === 0x03;

const TRANSPORTS = [
  { transport: "insecure", title: "plaintext (insecure: true everywhere), the control run" },
  { transport: "tls", title: "TLS (tls:// URLs, the hub's certificate from a CA made for the run, pinned)" },
] as const;

describe.skipIf(unavailable !== undefined)(
  unavailable === undefined
    ? "a federation over separate network hosts"
    : `a federation over separate network hosts (skipped: ${unavailable})`,
  () => {
    describe.each(TRANSPORTS)("$title", ({ transport }) => {
      let fed: HostFederation;
      beforeAll(async () => {
        fed = await startOnHosts(transport);
      }, 180_000);

      afterAll(async () => {
        await fed?.[Symbol.asyncDispose]();
      });

      it("links each TRE to the hub from its own host address, never over loopback", async () => {
        const links = (await fed.leafz()).leafs;
        expect(links.map((l) => [l.account, l.ip, l.is_spoke]).sort()).toEqual(
          TRES.map((tre) => [fed.files.treAccounts[tre], fed.tres.get(tre)!.address, false]).sort(),
        );
        const scheme = transport === "tls" ? "tls" : "nats";
        expect(await readFile(fed.files.profiles.alice!, "utf8")).toContain(
          `hub: ${scheme}://${HUB_ADDRESS}:`,
        );
      });

      it(transport === "tls"
        ? `runs a task end to end, and the hub's link never carries a released value${noTcpdump ? ` (no capture: ${noTcpdump})` : ""}`
        : `runs a task end to end, and the hub's link carries the released values in plaintext${noTcpdump ? ` (no capture: ${noTcpdump})` : ""}`, async () => {
        const file = join(fed.dir, `${transport}.pcap`);
        const capture = noTcpdump === undefined ? await fed.hub.capture(file) : undefined;
        let result: Record<string, unknown>;
        try {
          result = await runTask(fed);
        } finally {
          await capture?.stop();
        }
        const union = TRES.flatMap((tre) => rows[tre]!);
        expect(
          expectMatchesTruth(result, referenceOutput(COUNT as never, union), { exact: true }),
        ).toBeGreaterThan(2);
        if (capture === undefined) return;

        const streams = await readCapture(file);
        // The capture saw the task's traffic: each TRE's link to the hub, and the researcher's commands.
        const between = (a: string, b: string) =>
          streams.filter((s) => s.from.startsWith(`${a}:`) && s.to.startsWith(`${b}:`));
        for (const tre of TRES) {
          const address = fed.tres.get(tre)!.address;
          expect(between(address, HUB_ADDRESS).length, `TRE ${tre} to the hub`).toBeGreaterThan(0);
          expect(between(HUB_ADDRESS, address).length, `the hub to TRE ${tre}`).toBeGreaterThan(0);
        }
        const commands = between(fed.desk.address, HUB_ADDRESS);
        expect(commands.length).toBeGreaterThanOrEqual(3); // submit, status, aggregate
        const carrying = streamsCarrying(streams, MARKER);
        if (transport === "tls") {
          expect(carrying).toEqual([]);
          // Each command's connection, seen whole, opened with a TLS handshake: nothing went before it.
          for (const c of commands) expect(isTlsHandshake(c.bytes), `${c.from} > ${c.to}`).toBe(true);
          // Every connection to or from the hub, the TREs' links included and in both directions, starts with a TLS
          // record: the handshake comes first, so not even the server's INFO (name, version, address) is in the clear.
          const hubStreams = streams.filter(
            (st) => st.from.startsWith(`${HUB_ADDRESS}:`) || st.to.startsWith(`${HUB_ADDRESS}:`),
          );
          expect(hubStreams.length).toBeGreaterThan(0);
          for (const st of hubStreams.filter((x) => x.bytes.length > 0))
            expect(st.bytes[0], `${st.from} > ${st.to} starts with a TLS record`).toBeGreaterThanOrEqual(
              0x14,
            );
          expect(streamsCarrying(streams, "INFO {")).toEqual([]);
          return;
        }
        // The released table crossed the hub's link: from each TRE's host to the hub, and from the hub to the desk.
        for (const tre of TRES) {
          const from = `${fed.tres.get(tre)!.address}:`;
          expect(
            carrying.some((s) => s.startsWith(from) && s.includes(`> ${HUB_ADDRESS}:`)),
            `from TRE ${tre}`,
          ).toBe(true);
        }
        expect(
          carrying.some((s) => s.startsWith(`${HUB_ADDRESS}:`) && s.includes(`> ${fed.desk.address}:`)),
        ).toBe(true);
        for (const c of commands) expect(c.bytes.subarray(0, 8).toString("latin1")).toBe("CONNECT ");
      }, 180_000);
    });
  },
);
