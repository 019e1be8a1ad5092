/**
 * What `tremesh leaf start` tells a TRE's operator in its log of a leaf.yaml mistake that lets the leaf start and
 * link: a pinned hub key (`hub.publicKey`) that is not the hub's, so every task is refused here. The leaf runs as a
 * TRE runs it, its own process from the built CLI (`npm run build` first).
 */
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { waitFor } from "../common/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import { generateKeyPair } from "../protocol/index.js";
import { approveProject, type Federation, startFederation } from "./harness/federation.js";
import { startLeafProcesses } from "./harness/leaf-processes.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";

let fed: Federation;

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a"],
    researchers: ["alice"],
    startLeaves: [],
    leafExtra: (tre) => exactPatientsLeaf(tre, { project: "diabetes" }),
  });
  await writePatientsCsv(generatePatients(patientProfiles.small, 7), join(fed.files.dir, "patients-a.csv"));
  await approveProject(fed, { project: "diabetes", tres: ["a"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("tremesh leaf start's log", () => {
  it("warns, naming hub.publicKey and leaf.yaml, when the hub's tasks are signed by a key other than the pinned one", async () => {
    const file = fed.files.leafConfigs.a!;
    const config = parse(await readFile(file, "utf8")) as { hub: { publicKey: string } };
    const pinned = generateKeyPair("user").publicKey;
    config.hub.publicKey = pinned;
    await writeFile(file, stringify(config), { mode: 0o600 });
    await using _leaves = await startLeafProcesses(fed, ["a"]);

    const analysis = join(fed.files.dir, "count.json");
    await writeFile(analysis, JSON.stringify({ kind: "count", dataset: "patients" }));
    const r = await fed.cli(["submit", "--project", "diabetes", "--tres", "a", analysis], "alice");
    expect(r.code).toBe(0);
    const warning = await waitFor("the leaf's warning", async () => {
      const lines = (await readFile(join(fed.files.dir, "logs", "leaf-a.log"), "utf8")).split("\n");
      return lines
        .filter((l) => l.startsWith("{"))
        .map(
          (l) =>
            JSON.parse(l) as { level: number; msg: string; code?: string; subject?: string; reason?: string },
        )
        .find((l) => l.code === "unknown_signer");
    });
    expect(warning.level).toBe(40);
    expect(warning.subject).toContain(r.out[0]!);
    expect(warning.msg).toBe(`agent refused (${file})`);
    expect(warning.reason).toContain(`not the hub key leaf.yaml pins (hub.publicKey ${pinned.slice(0, 8)}…)`);
    expect(warning.reason).toContain("pin the new one as hub.nextPublicKey and restart the leaf");
  }, 120_000);
});
