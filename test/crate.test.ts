/**
 * `tremesh crate` on a real federation (over TLS): every analysis kind, a reviewer-approved task and a
 * partially released one give each TRE's Five Safes RO-Crate in a BagIt zip that `crate verify` passes
 * with no REQUIRED or RECOMMENDED finding; a withheld output's value and digest appear in no crate.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { unzipSync, zipSync } from "fflate";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../cli/main.js";
import { zipBag } from "../crate/index.js";
import { generatePatients, patientProfiles, writePatientsCsv } from "../fixtures/index.js";
import type { AnalysisSpec } from "../protocol/index.js";
import { approveProject, childReaches, type Federation, startFederation } from "./harness/federation.js";
import { exactPatientsLeaf } from "./harness/patients-leaf.js";
import { projectTextFlags } from "./harness/project-text.js";
import { uniqueToken } from "./harness/unique.js";

const KINDS: AnalysisSpec[] = [
  { kind: "count", dataset: "patients", groupBy: ["region"] },
  { kind: "summary", dataset: "patients", column: "cholesterol", groupBy: ["smoker"] },
  { kind: "histogram", dataset: "patients", column: "systolic_bp", bins: { min: 90, max: 190, count: 10 } },
  { kind: "crosstab", dataset: "patients", rows: "sex", cols: "diabetes" },
  { kind: "regression", dataset: "patients", outcome: "cholesterol", predictors: ["age", "bmi"] },
];

let fed: Federation;

async function submit(analysis: AnalysisSpec, tres: string, wait: boolean): Promise<string> {
  const file = join(fed.files.dir, `analysis-${uniqueToken()}.json`);
  await writeFile(file, JSON.stringify(analysis));
  const argv = ["submit", "--project", "diabetes", "--tres", tres, file];
  const r = await fed.cli(wait ? [...argv, "--wait", "--timeout-ms", "30000"] : argv, "alice");
  expect(r.code, r.err.join("\n")).toBe(0);
  return r.out[0] as string;
}

/** `crate verify --json` of a crate file (it needs no profile): exit code and its findings. */
async function verify(file: string, trust: string[] = []) {
  const out: string[] = [];
  const err: string[] = [];
  const pinned = trust.length > 0 ? ["--trust", trust.join(",")] : [];
  const code = await run(["crate", "verify", file, "--json", ...pinned], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  expect(err).toEqual([]);
  const doc = JSON.parse(out.join("\n")) as {
    sound: boolean;
    signedBy?: string;
    bagProblems: unknown[];
    profile: { counts: Record<string, number>; findings: { level: string; message: string }[] };
  };
  return { code, ...doc };
}

/** The zip of `entries` with one byte of `path` flipped, at `at`. */
function flipped(entries: Record<string, Uint8Array>, path: string, at: number): Uint8Array {
  const copy = Object.fromEntries(Object.entries(entries).map(([p, b]) => [p, new Uint8Array(b)]));
  const bytes = copy[path] as Uint8Array;
  bytes[at] = (bytes[at] as number) ^ 1;
  return zipSync(copy);
}

/** Every non-integer number in a value, as JSON text (distinctive enough to search a crate's bytes for). */
function decimals(value: unknown): string[] {
  if (typeof value === "number") return Number.isInteger(value) ? [] : [JSON.stringify(value)];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(decimals);
}

/** Every file of a crate zip, uncompressed, as one string to search. */
async function crateText(file: string): Promise<string> {
  const entries = unzipSync(await readFile(file));
  return Object.values(entries)
    .map((b) => Buffer.from(b).toString("latin1"))
    .join("\n");
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    reviewers: ["rita"],
    startLeaves: [],
    // a: a human reviewer decides; b: outputs that pass every check are released by the TRE's policy.
    leafExtra: (tre) =>
      exactPatientsLeaf(tre, {
        project: "diabetes",
        analyses: ["count", "summary", "histogram", "crosstab", "regression"],
        autoRelease: tre === "b",
      }),
  });
  await writePatientsCsv(generatePatients(patientProfiles.north, 31), join(fed.files.dir, "patients-a.csv"));
  await writePatientsCsv(generatePatients(patientProfiles.south, 32), join(fed.files.dir, "patients-b.csv"));
  await fed.startLeaf("a");
  await fed.startLeaf("b");
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("tremesh crate", { timeout: 180_000 }, () => {
  it("writes a crate for every analysis kind that verifies with no REQUIRED or RECOMMENDED finding", async () => {
    let last = "";
    for (const analysis of KINDS) {
      const taskId = await submit(analysis, "b", true);
      const file = join(fed.files.dir, `${taskId}.zip`);
      const written = await fed.cli(["crate", taskId, "--out", file], "alice");
      expect(written.code, written.err.join("\n")).toBe(0);
      expect(written.out).toEqual([expect.stringMatching(`^b: crate written to ${file} \\(\\d+ bytes\\)$`)]);
      // b released it by its auto-release policy: its decisions are signed by b's own key.
      const check = await verify(file, [fed.files.trePublicKeys.b as string]);
      expect(check.bagProblems, analysis.kind).toEqual([]);
      expect(
        check.profile.findings.filter((f) => f.level !== "OPTIONAL"),
        analysis.kind,
      ).toEqual([]);
      expect(check.code).toBe(0);
      const text = await crateText(file);
      expect(text).toContain(`External-Identifier: urn:tremesh:task:${taskId}`);
      expect(text).toContain(`"urn:tremesh:analysis:${analysis.kind}:1"`);
      last = file;
    }
    // Signed by TRE b, with the key that signs its Releases.
    expect((await verify(last)).signedBy).toBe(fed.files.trePublicKeys.b);
    // As text: without --trust it says what a signature alone proves, and what to do to know whose it is.
    const said = async (...argv: string[]) => {
      const out: string[] = [];
      await run(["crate", "verify", last, ...argv], { out: (l) => out.push(l), err: () => {} });
      return out.find((l) => l.startsWith("signed:")) ?? "";
    };
    expect(await said()).toMatch(
      /not whose key it is: compare it with the TRE's published key, or give --trust\)$/,
    );
    expect(await said("--trust", fed.files.trePublicKeys.b as string)).toBe(
      `signed: the bag's tag files are signed by ${fed.files.trePublicKeys.b}`,
    );
    // Written once: not over a file already there, nor into a folder whose parent is missing.
    const lastTask = basename(last, ".zip");
    const over = await fed.cli(["crate", lastTask, "--out", last], "alice");
    expect(over.code).toBe(3);
    expect(over.err.at(-1)).toMatch(/exists; tremesh does not write over a file: give another path/);
    // Every crate's file is checked before any is written: the combined crate already there wrote b's and then
    // stopped, unsaid, and a second run stopped at b's.
    const folder = join(fed.files.dir, `crates-${uniqueToken()}`);
    await mkdir(folder);
    const combined = join(folder, `${lastTask}-combined.zip`);
    await writeFile(combined, "an earlier crate");
    const clash = await fed.cli(["crate", lastTask, "--out", folder], "alice");
    expect(clash.code).toBe(3);
    expect(clash.err.at(-1)).toBe(
      `tremesh crate: ${combined} exists; tremesh does not write over a file: give another path, or move it away first (no crate was written)`,
    );
    expect(await readdir(folder)).toEqual([`${lastTask}-combined.zip`]);
    await rm(combined);
    expect((await fed.cli(["crate", lastTask, "--out", folder], "alice")).code).toBe(0);
    expect((await readdir(folder)).sort()).toEqual([`${lastTask}-b.zip`, `${lastTask}-combined.zip`]);
    // A TRE the task was never sent to is named as such, not as one whose Release did not verify.
    const notSent = await fed.cli(["crate", lastTask, "--tre", "a", "--out", join(folder, "a.zip")], "alice");
    expect(notSent.code).toBe(3);
    expect(notSent.err.at(-1)).toBe(
      `tremesh crate: --tre a: task ${lastTask} was not sent to TRE a; it went to b`,
    );
    const astray = join(fed.files.dir, "no-such-parent", "crates");
    const lost = await fed.cli(["crate", lastTask, "--out", astray], "alice");
    expect(lost.code).toBe(3);
    expect(lost.err.at(-1)).toBe(`tremesh crate: ${astray}: no such file or folder (ENOENT); check the path`);
    // One flipped bit in a released output: verify fails, naming the file.
    const entries = unzipSync(await readFile(last));
    const output = Object.keys(entries).find((p) => p.startsWith("data/outputs/")) as string;
    const tampered = join(fed.files.dir, "tampered.zip");
    await writeFile(tampered, flipped(entries, output, 0));
    const check = await verify(tampered);
    expect(check.code).toBe(1);
    // Its manifest line, and the reviewer's signed decision, both say so.
    expect(check.bagProblems).toEqual([
      { path: output, problem: "does not match its sha-512 in manifest-sha512.txt: it was changed" },
      { path: output, problem: expect.stringMatching(/^is not what the reviewer approved: /) },
    ]);
    // A flipped byte in every other file of the bag, payload, manifests, metadata and signature alike.
    const paths = Object.keys(entries).filter((p) => !p.endsWith("/"));
    expect(paths).toEqual(
      expect.arrayContaining([
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha512.txt",
        "tagmanifest-sha512.txt",
        "tremesh-signature.txt",
        "data/ro-crate-metadata.json",
        expect.stringMatching(/^data\/evidence\//),
        expect.stringMatching(/^data\/workflow\//),
      ]),
    );
    for (const path of paths) {
      const bytes = entries[path] as Uint8Array;
      await writeFile(tampered, flipped(entries, path, Math.floor(bytes.length / 2)));
      const flippedCheck = await verify(tampered);
      expect(flippedCheck.code, path).toBe(1);
      expect(flippedCheck.sound, path).toBe(false);
      expect(JSON.stringify(flippedCheck.bagProblems), path).toContain(path);
    }
  });

  it("records the reviewer's signed approval, and leaves a withheld output out of every crate", async () => {
    // Approved at a by rita; the same analysis at b auto-released.
    const approved = await submit(KINDS[0] as AnalysisSpec, "a,b", false);
    await childReaches(fed, approved, "a", "outputs_pending_review");
    expect((await fed.cli(["airlock", "approve", approved], "reviewer-a-rita")).code).toBe(0);
    await childReaches(fed, approved, "a", "released");
    await childReaches(fed, approved, "b", "released");
    const dir = join(fed.files.dir, `crates-${uniqueToken()}`);
    const both = await fed.cli(["crate", approved, "--out", dir], "alice");
    expect(both.code, both.err.join("\n")).toBe(0);
    expect(both.out).toEqual(
      ["a", "b", "combined"].map((c) =>
        expect.stringMatching(`^${c}: crate written to .*${approved}-${c}\\.zip`),
      ),
    );
    for (const tre of ["a", "b", "combined"]) {
      const check = await verify(join(dir, `${approved}-${tre}.zip`));
      expect(check.sound, `${tre}: ${JSON.stringify(check.profile.findings)}`).toBe(true);
    }
    // The TRE's own copy is the crate it signed and published: the same files.
    const own = await fed.cli(
      ["airlock", "crate", approved, "--out", join(dir, "tre-a"), "--json"],
      "reviewer-a-rita",
    );
    expect(own.code, own.err.join("\n")).toBe(0);
    const ownCrate = JSON.parse(own.out.join("\n")) as {
      crates: { tre: string; path: string; withheld: string[] }[];
    };
    expect(ownCrate.crates).toEqual([
      { tre: "a", path: join(dir, "tre-a", `${approved}-a.zip`), bytes: expect.any(Number), withheld: [] },
    ]);
    expect(unzipSync(await readFile(join(dir, "tre-a", `${approved}-a.zip`)))).toEqual(
      unzipSync(await readFile(join(dir, `${approved}-a.zip`))),
    );
    // `.ZIP` names a file in any case, as `.zip` does: it was made a folder of that name.
    const upper = join(dir, "north.ZIP");
    expect((await fed.cli(["crate", approved, "--tre", "a", "--out", upper], "alice")).code).toBe(0);
    const ownUpper = join(dir, "own.Zip");
    expect((await fed.cli(["airlock", "crate", approved, "--out", ownUpper], "reviewer-a-rita")).code).toBe(
      0,
    );
    for (const file of [upper, ownUpper]) {
      expect((await stat(file)).isFile()).toBe(true);
      expect(unzipSync(await readFile(file))).toEqual(
        unzipSync(await readFile(join(dir, `${approved}-a.zip`))),
      );
    }
    // An --out that is neither a folder nor a .zip path is refused as such, not as a folder with a crate file inside.
    const notFolder = join(dir, "notes.txt");
    await writeFile(notFolder, "not a folder");
    for (const [argv, profile] of [
      [["crate", approved], "alice"],
      [["airlock", "crate", approved], "reviewer-a-rita"],
    ] as const)
      for (const out of ["/dev/null", notFolder]) {
        const r = await fed.cli([...argv, "--out", out], profile);
        expect(r.code).toBe(3);
        expect(r.err.at(-1)).toBe(
          `tremesh ${argv[0]}: --out ${out}: exists and is not a folder; give a folder, or a file path ending in .zip`,
        );
      }
    expect(await readFile(notFolder, "utf8")).toBe("not a folder");
    // Every crate of the task has the one External-Identifier.
    for (const c of ["a", "b", "combined"])
      expect(await crateText(join(dir, `${approved}-${c}.zip`))).toContain(
        `External-Identifier: urn:tremesh:task:${approved}\n`,
      );
    const crateA = await crateText(join(dir, `${approved}-a.zip`));
    expect(crateA).toContain('"name": "rita"');
    expect(crateA).toMatch(/Disclosure review of count\.json: approved, released"/);
    expect(crateA).toContain("evidence/decision-1.envelope");
    const combined = await crateText(join(dir, `${approved}-combined.zip`));
    for (const part of ["data/outputs/a/count.json", "data/outputs/b/count.json", "data/combined/count.json"])
      expect(combined).toContain(part);
    expect(combined).toMatch(/"@type": "ReceiveAction"/);

    // Withheld at a by rita, released at b: the task is partial, and only b's crate is written.
    const partial = await submit(KINDS[1] as AnalysisSpec, "a,b", false);
    await childReaches(fed, partial, "a", "outputs_pending_review");
    const held = JSON.parse(
      (await fed.cli(["airlock", "show", partial, "--json"], "reviewer-a-rita")).out.join("\n"),
    ) as {
      outputs: { digest: string; releasableDigest?: string; output?: unknown; releasableOutput?: unknown }[];
    };
    const secrets = held.outputs.flatMap((o) => [o.digest, o.releasableDigest ?? o.digest]);
    const rejected = await fed.cli(
      ["airlock", "reject", partial, "--reason", "too few smokers"],
      "reviewer-a-rita",
    );
    expect(rejected.code, rejected.err.join("\n")).toBe(0);
    await childReaches(fed, partial, "a", "withheld");
    await childReaches(fed, partial, "b", "released");
    const partialDir = join(fed.files.dir, `crates-${uniqueToken()}`);
    const r = await fed.cli(["crate", partial, "--out", partialDir], "alice");
    expect(r.code, r.err.join("\n")).toBe(0);
    expect(r.err).toEqual(["no crate for TRE a: it withheld every output (summary.json)"]);
    expect(r.out).toEqual([
      expect.stringMatching(/^b: crate written to /),
      expect.stringMatching(/^combined: crate written to /),
    ]);
    const crateB = join(partialDir, `${partial}-b.zip`);
    expect((await verify(crateB)).sound).toBe(true);
    expect((await verify(join(partialDir, `${partial}-combined.zip`))).sound).toBe(true);
    // The TRE that withheld everything still has its own signed crate, the output named and nothing more.
    const heldCrate = join(partialDir, `${partial}-a.zip`);
    const ownHeld = await fed.cli(["airlock", "crate", partial, "--out", heldCrate], "reviewer-a-rita");
    expect(ownHeld.code, ownHeld.err.join("\n")).toBe(0);
    expect(ownHeld.out).toEqual([
      expect.stringMatching(`^a: crate written to ${heldCrate} \\(\\d+ bytes\\)$`),
      "withheld, in the crate by name only: summary.json",
    ]);
    const heldCheck = await verify(heldCrate, [fed.files.trePublicKeys.a as string]);
    expect(heldCheck.bagProblems).toEqual([]);
    expect(heldCheck.signedBy).toBe(fed.files.trePublicKeys.a);
    expect(await crateText(heldCrate)).toContain("too few smokers");
    // The withheld output's value: its statistics (every non-integer, as JSON writes it) and digests appear in
    // no crate.
    const values = held.outputs.flatMap((o) => [...decimals(o.output), ...decimals(o.releasableOutput)]);
    expect(values.length).toBeGreaterThan(0);
    for (const file of [crateB, join(partialDir, `${partial}-combined.zip`), heldCrate]) {
      const text = await crateText(file);
      for (const s of [...secrets, ...values]) expect(text).not.toContain(s);
    }
  });

  it("exports a data use register entry per project from the published crates", async () => {
    const approved = await submit(KINDS[0] as AnalysisSpec, "a,b", false);
    await childReaches(fed, approved, "a", "outputs_pending_review");
    expect((await fed.cli(["airlock", "approve", approved], "reviewer-a-rita")).code).toBe(0);
    await childReaches(fed, approved, "b", "released");
    await childReaches(fed, approved, "a", "released");
    const partial = await submit(KINDS[3] as AnalysisSpec, "a,b", false);
    await childReaches(fed, partial, "a", "outputs_pending_review");
    expect(
      (await fed.cli(["airlock", "reject", partial, "--reason", "small cells"], "reviewer-a-rita")).code,
    ).toBe(0);
    await childReaches(fed, partial, "b", "released");
    const dir = join(fed.files.dir, `register-${uniqueToken()}`);
    for (const task of [approved, partial])
      expect((await fed.cli(["crate", task, "--out", dir], "alice")).code).toBe(0);
    // Without --profile or --dir the registry is not read, and the output says what that leaves.
    const register = async (...paths: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await run(["admin", "register", ...paths, "--json"], {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
      });
      return { code, err, entries: JSON.parse(out.join("\n")) as Record<string, unknown>[] };
    };
    const fromCrates = {
      projectIdText: "diabetes",
      projectTitle: "diabetes",
      applicantNames: ["alice"],
      organisationName: "Organisation of researcher alice (tremesh does not record it)",
      datasetNames: ["patients (TRE a)", "patients (TRE b)"],
      dataLocation: "TRE a; TRE b",
      researchOutputs: [
        `count.json (TRE a, task ${approved})`,
        `count.json (TRE b, task ${approved})`,
        `crosstab.json (TRE b, task ${partial})`,
      ]
        .sort()
        .join("; "),
      accessDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      latestApprovalDate: expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/),
      tremesh: {
        tasks: [approved, partial].sort(),
        externalIdentifiers: [`urn:tremesh:task:${approved}`, `urn:tremesh:task:${partial}`].sort(),
        fromRegistry: [],
      },
    };
    const r = await register(dir);
    expect(r.err).toEqual([
      expect.stringMatching(/^note: the project registry was not read \(give --dir or --profile\)/),
    ]);
    expect(r.code).toBe(0);
    expect(r.entries).toEqual([fromCrates]);
    // The admin's registry read, but the project has no title, lay summary or organisation there yet: the same
    // entry, and the text output says which fields fell back.
    const bare = await fed.cli(["admin", "register", dir]);
    expect(bare.code, bare.err.join("\n")).toBe(0);
    expect(bare.err).toEqual([]);
    expect(bare.out).toContain(
      "  fallback        projectTitle is the project id; laySummary left out; organisationName as the crates name it (not set in its registry entry: admin project set diabetes --title, --lay-summary, --organisation)",
    );
    // The admin gives the project its title, lay summary and organisation: the register entry takes them from
    // the registry, everything else still from the crates.
    const text = {
      title: "Diabetes risk across two regions",
      laySummary: "We count how often diabetes occurs with smoking, so that clinics can plan screening.",
      organisation: "University of Northtown",
    };
    const set = await fed.cli(["admin", "project", "set", "diabetes", ...projectTextFlags(text)]);
    expect(set.code, set.err.join("\n")).toBe(0);
    const filled = await fed.cli(["admin", "register", dir, "--json"]);
    expect(filled.code, filled.err.join("\n")).toBe(0);
    expect(filled.err).toEqual([]);
    expect(JSON.parse(filled.out.join("\n"))).toEqual([
      {
        ...fromCrates,
        projectTitle: text.title,
        laySummary: text.laySummary,
        organisationName: text.organisation,
        tremesh: { ...fromCrates.tremesh, fromRegistry: ["projectTitle", "laySummary", "organisationName"] },
      },
    ]);
    const filledText = await fed.cli(["admin", "register", dir]);
    expect(filledText.out.slice(0, 3)).toEqual([
      `project diabetes — ${text.title}`,
      `  lay summary     ${text.laySummary}`,
      `  applicants      alice (${text.organisation})`,
    ]);
    expect(filledText.out.join("\n")).not.toContain("fallback");
    // A crate that does not verify is left out, named, and the export fails.
    const entries = unzipSync(await readFile(join(dir, `${approved}-a.zip`)));
    const tampered = join(dir, "tampered.zip");
    await writeFile(tampered, flipped(entries, "data/ro-crate-metadata.json", 100));
    const refused = await fed.cli(["admin", "register", dir, "--json"]);
    expect(refused.code).toBe(1);
    expect(refused.err).toEqual([
      expect.stringMatching(/^left out: .*tampered\.zip does not verify \(data\/ro-crate-metadata\.json: /),
    ]);
    expect(JSON.parse(refused.out.join("\n"))).toMatchObject([{ projectTitle: text.title }]);
  });

  it("refuses to write a crate before anything is released", async () => {
    const pending = await submit(KINDS[0] as AnalysisSpec, "a", false);
    await childReaches(fed, pending, "a", "outputs_pending_review");
    const r = await fed.cli(["crate", pending, "--out", join(fed.files.dir, "none.zip")], "alice");
    expect(r.code).toBe(1);
    expect(r.err.join("\n")).toMatch(/has no verified Release with released outputs/);
    expect(
      (await fed.cli(["airlock", "reject", pending, "--reason", "tidy up"], "reviewer-a-rita")).code,
    ).toBe(0);
  });

  it("runs the validator's request crate through submit --crate, and refuses one naming another researcher", async () => {
    // The reference request crate, its workflow and inputs pointed at tremesh's count analysis; its agent and
    // project kept, the agent naming its tremesh login and the project its id at TRE b.
    const crate = JSON.parse(
      await readFile(
        join(
          import.meta.dirname,
          "..",
          "crate",
          "reference-crates",
          "validator-five-safes-crate-request.json",
        ),
        "utf8",
      ),
    ) as { "@graph": Array<Record<string, unknown>> };
    const byId = (id: string) => crate["@graph"].find((e) => e["@id"] === id) as Record<string, unknown>;
    const workflow = "urn:tremesh:analysis:count:1";
    byId("./").mainEntity = { "@id": workflow };
    const run = byId("#query-37252371-c937-43bd-a0a7-3680b48c0538");
    run.instrument = { "@id": workflow };
    run.object = [{ "@id": "#dataset" }, { "@id": "#groupBy" }];
    crate["@graph"].push(
      { "@id": workflow, "@type": "Dataset", name: "tremesh count" },
      { "@id": "#dataset", "@type": "PropertyValue", name: "dataset", value: "patients" },
      { "@id": "#groupBy", "@type": "PropertyValue", name: "groupBy", value: '["sex"]' },
      { "@id": "#at-b", "@type": "PropertyValue", name: "b", value: "diabetes" },
    );
    (byId("#project-be6ffb55-4f5a-4c14-b60e-47e0951090c70").identifier as unknown[]).push({ "@id": "#at-b" });
    const person = byId("https://orcid.org/0000-0001-9842-9718");
    person.alternateName = "alice";
    const request = join(fed.files.dir, "request.zip");
    const requestId = `urn:uuid:${crypto.randomUUID()}`;
    const zipRequest = () =>
      writeFile(
        request,
        zipBag(new Map([["ro-crate-metadata.json", new TextEncoder().encode(JSON.stringify(crate))]]), {
          "External-Identifier": requestId,
        }),
      );
    await zipRequest();
    const submitted = await fed.cli(
      ["submit", "--crate", request, "--tres", "b", "--wait", "--timeout-ms", "30000"],
      "alice",
    );
    expect(submitted.code, submitted.err.join("\n")).toBe(0);
    const taskId = submitted.out[0] as string;
    const fromRequest = join(fed.files.dir, `from-request-${uniqueToken()}`);
    expect((await fed.cli(["crate", taskId, "--out", fromRequest], "alice")).code).toBe(0);
    const file = join(fromRequest, `${taskId}-b.zip`);
    expect((await verify(file)).sound).toBe(true);
    expect(await crateText(file)).toContain('"value": "[\\"sex\\"]"');
    // The request crate's External-Identifier, kept by the TRE's signed crate and the researcher's combined one.
    for (const c of [file, join(fromRequest, `${taskId}-combined.zip`)])
      expect(await crateText(c)).toContain(`External-Identifier: ${requestId}\n`);

    person.alternateName = "mallory";
    await zipRequest();
    const refused = await fed.cli(["submit", "--crate", request, "--tres", "b"], "alice");
    expect(refused.code).toBe(3);
    expect(refused.err.join("\n")).toMatch(
      /request crate: https:\/\/orcid\.org\/0000-0001-9842-9718 identifier: the requesting agent .* is not "alice"/,
    );
  });
});
