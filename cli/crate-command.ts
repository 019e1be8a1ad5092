/**
 * `tremesh crate TASK --out FILE.zip|DIR`: each TRE's Five Safes RO-Crate of a task, as the TRE signed it in its
 * verified Release, and the researcher's combined crate; `tremesh crate verify FILE.zip`: its BagIt manifests,
 * its TRE's signature and the Five Safes profile.
 */
import { lstat, mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { collectResults, fetchTres, type TaskResults, toJson } from "../aggregator/index.js";
import { isSystemError, softwareVersion } from "../common/index.js";
import {
  bagInfo,
  type CrateCheck,
  type CrateRelease,
  checkCrateZip,
  crateFromRelease,
  crateRelease,
  MAX_BAG_BYTES,
  openBag,
  zipCombinedCrate,
  zipResultsCrate,
} from "../crate/index.js";
import { isPublicKey } from "../protocol/index.js";
import { type Command, type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { readInputFile } from "./input-file.js";
import { namesZipFile, outputFolder, writeNewFile } from "./output-file.js";
import { signingKey } from "./profile.js";
import { taskIdArg } from "./task-id-arg.js";

async function build(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: "string" },
      tre: { type: "string" },
      combined: { type: "boolean" },
      profile: { type: "string" },
      json: { type: "boolean" },
    },
  });
  const taskId = taskIdArg("crate", positionals, "to check a crate file: tremesh crate verify FILE.zip");
  const out = values.out;
  if (!out)
    throw usageError(
      "crate: --out FILE.zip (one crate) or --out DIR (each TRE's and the combined crate) is required",
    );
  if (values.combined && values.tre !== undefined)
    throw usageError("crate: give --tre or --combined, not both");
  return withHub(values.profile, async (nc, profile) => {
    const key = signingKey(profile);
    const r = await collectResults(nc, key, taskId, profile.treKeys);
    for (const e of r.excluded)
      io.err(`left out: TRE ${e.tre}'s Release does not verify (${e.code}): ${e.reason}`);
    const asked = r.task.children.map((c) => c.tre);
    if (values.tre !== undefined && !asked.includes(values.tre))
      throw new CliError(
        `--tre ${values.tre}: task ${taskId} was not sent to TRE ${values.tre}; it went to ${asked.join(", ")}`,
        ExitCode.badInput,
      );
    const chosen = r.accepted.filter((a) => values.tre === undefined || a.tre === values.tre);
    // A results crate records a run's released results; a TRE that withheld every output has none to record.
    for (const a of chosen.filter((x) => x.release.outputs.length === 0))
      io.err(
        `no crate for TRE ${a.tre}: it withheld every output (${a.withheld.map((w) => w.name).join(", ")})`,
      );
    const releases = chosen.filter((a) => a.release.outputs.length > 0);
    if (releases.length === 0)
      throw new CliError(
        values.tre === undefined
          ? `task ${taskId} has no verified Release with released outputs: a crate holds released results only`
          : `task ${taskId} has no verified Release from TRE ${values.tre}`,
        ExitCode.failed,
      );
    const toFile = namesZipFile(out);
    if (toFile && !values.combined && releases.length > 1)
      throw usageError(
        `crate: ${releases.length} TREs released task ${taskId} (${releases.map((a) => a.tre).join(", ")}); give --tre NAME or --combined, or --out DIR for every crate`,
      );
    // The key each Release was verified with: pinned in the profile, or the one the hub reported.
    const hubKeys = new Map(
      r.keysFromHub.length > 0 ? (await fetchTres(nc, key)).map((t) => [t.tre, t.publicKey]) : [],
    );
    const keyOf = (tre: string) => {
      const pinned = profile.treKeys[tre];
      const treKey = pinned ?? hubKeys.get(tre);
      return treKey === undefined ? undefined : { key: treKey, pinned: pinned !== undefined };
    };
    const crateReleases = crateReleasesOf(releases, keyOf);
    const signed = new Map(releases.flatMap((a) => (a.release.crate ? [[a.tre, signedCrate(a)]] : [])));
    const now = Date.now();
    const crates: Array<{ tre: string; zip: () => Uint8Array }> = [];
    if (!values.combined)
      for (const release of crateReleases) {
        const zip = signed.get(release.tre);
        if (!zip)
          io.err(
            `TRE ${release.tre}'s Release carries no crate: its crate is built here from the Release, unsigned by the TRE`,
          );
        crates.push({
          tre: release.tre,
          zip: () =>
            zip ?? zipResultsCrate({ task: r.task, now, softwareVersion: softwareVersion(), release }),
        });
      }
    if (values.combined || (!toFile && values.tre === undefined))
      crates.push({
        tre: "combined",
        zip: () => combinedZip(r, crateReleases, now, externalIdOf(signed.values())),
      });
    const pathOf = (tre: string) => (toFile ? out : join(out, `${taskId}-${tre}.zip`));
    // Every crate's file is checked before any is written: a later one already there used to stop the command
    // after the earlier ones were written, unsaid, and a second run then stopped at the first.
    const there = await existingPaths(crates.map((c) => pathOf(c.tre)));
    if (there.length > 0)
      throw new CliError(
        `${there.join(", ")} ${there.length === 1 ? "exists" : "exist"}; tremesh does not write over a file: give another path, or move ${there.length === 1 ? "it" : "them"} away first (no crate was written)`,
        ExitCode.badInput,
      );
    if (!toFile) await outputFolder(out);
    const written: Array<{ tre: string; path: string; bytes: number }> = [];
    for (const c of crates) {
      const zip = c.zip();
      const path = pathOf(c.tre);
      await writeNewFile(path, zip);
      written.push({ tre: c.tre, path, bytes: zip.length });
    }
    if (values.json) io.out(JSON.stringify({ taskId, crates: written }, null, 2));
    else for (const w of written) io.out(`${w.tre}: crate written to ${w.path} (${w.bytes} bytes)`);
    return ExitCode.ok;
  });
}

/** Those of `paths` that something (a file, a folder, a symlink, dangling or not) is at already. */
async function existingPaths(paths: readonly string[]): Promise<string[]> {
  const found = await Promise.all(
    paths.map((p) =>
      lstat(p).then(
        () => p,
        (e: unknown) => {
          if (isSystemError(e) && (e.code === "ENOENT" || e.code === "ENOTDIR")) return undefined;
          throw e;
        },
      ),
    ),
  );
  return found.filter((p): p is string => p !== undefined);
}

type KeyOf = (tre: string) => { key: string; pinned: boolean } | undefined;

function crateReleasesOf(releases: TaskResults["accepted"], keyOf: KeyOf): CrateRelease[] {
  return releases.map((a) => {
    const k = keyOf(a.tre);
    if (k === undefined) throw new CliError(`no key is known for TRE ${a.tre}`, ExitCode.failed);
    return crateRelease(a, k.key, k.pinned);
  });
}

/** A TRE's signed crate, whole again from its verified Release (crate/release-crate.ts). */
function signedCrate(a: TaskResults["accepted"][number]): Uint8Array {
  return crateFromRelease(a.release.crate as Uint8Array, [
    ...a.release.outputs.map((o) => o.data),
    ...a.release.decisions,
  ]);
}

/**
 * The `External-Identifier` the TREs' signed crates give the task (the request crate's, when it came from one),
 * for the combined crate to keep; undefined when no TRE sent a crate.
 */
function externalIdOf(crates: Iterable<Uint8Array>): string | undefined {
  for (const zip of crates) {
    const id = bagInfo(openBag(zip).files)["External-Identifier"];
    if (id) return id;
  }
  return undefined;
}

function combinedZip(
  r: TaskResults,
  releases: CrateRelease[],
  now: number,
  externalId: string | undefined,
): Uint8Array {
  const combined = r.combined.flatMap((c) => (c.result ? [{ name: c.name, json: toJson(c.result) }] : []));
  return zipCombinedCrate({
    task: r.task,
    now,
    softwareVersion: softwareVersion(),
    releases,
    combined,
    externalId,
  });
}

/**
 * Writes the researcher's combined crate of a task's verified results to `path` (the demo's use), with the
 * TRE keys the Releases were verified with; returns false, writing nothing, when no TRE released an output.
 */
export async function writeCombinedCrate(
  r: TaskResults,
  treKeys: Readonly<Record<string, string>>,
  path: string,
): Promise<boolean> {
  const releases = r.accepted.filter((a) => a.release.outputs.length > 0);
  if (releases.length === 0) return false;
  const keyOf: KeyOf = (tre) => (treKeys[tre] ? { key: treKeys[tre], pinned: true } : undefined);
  await mkdir(dirname(path), { recursive: true });
  const signed = releases.flatMap((a) => (a.release.crate ? [signedCrate(a)] : []));
  await writeFile(path, combinedZip(r, crateReleasesOf(releases, keyOf), Date.now(), externalIdOf(signed)));
  return true;
}

/** Whether a check found nothing a published crate may have: no bag problem, no REQUIRED or RECOMMENDED finding. */
export function crateIsSound(check: CrateCheck): boolean {
  return (
    check.bagProblems.length === 0 &&
    check.profile !== undefined &&
    check.profile.counts.REQUIRED + check.profile.counts.RECOMMENDED === 0
  );
}

async function verify(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: { json: { type: "boolean" }, trust: { type: "string" } },
  });
  const [file, ...rest] = positionals;
  const trustedKeys = values.trust?.split(",").filter((k) => k !== "");
  if (file === undefined || rest.length > 0) throw usageError("crate verify: give one crate file (FILE.zip)");
  const notKey = trustedKeys?.find((k) => !isPublicKey(k));
  if (notKey !== undefined)
    throw usageError(
      `crate verify: --trust ${JSON.stringify(notKey)} is not a public key (the U… of a TRE or a reviewer)`,
    );
  if (trustedKeys?.length === 0) throw usageError("crate verify: --trust needs at least one key");
  const zip = await readInputFile(file, "crate verify", MAX_BAG_BYTES);
  const check = await checkCrateZip(zip, trustedKeys ? { trustedKeys } : {});
  const sound = crateIsSound(check);
  // A crate zipped as it is (a request crate, say) is no bag: say so, rather than only that a bag's files are missing.
  const plainCrate =
    check.bagProblems.some((p) => p.path === "bagit.txt") && openBag(zip).files.has("ro-crate-metadata.json");
  if (plainCrate)
    io.err(
      `note: ${file} is an RO-Crate zipped without a BagIt bag; crate verify checks published crates, bags as \`tremesh crate\` writes them (a request crate is checked when it is submitted: tremesh submit --crate)`,
    );
  if (values.json) {
    io.out(JSON.stringify({ file, sound, ...check }, null, 2));
  } else {
    for (const p of check.bagProblems) io.out(`bag: ${p.path || file}: ${p.problem}`);
    for (const f of check.profile?.findings ?? [])
      io.out(`${f.level}: ${f.entity || "(crate)"}${f.property ? ` ${f.property}` : ""}: ${f.message}`);
    const counts = check.profile?.counts;
    if (check.signedBy)
      io.out(
        `signed: the bag's tag files are signed by ${check.signedBy}${
          trustedKeys
            ? ""
            : " (this proves the bag unchanged since that key signed it, not whose key it is: compare it with the TRE's published key, or give --trust)"
        }`,
      );
    io.out(
      `${file}: ${sound ? "verified" : "does NOT verify"} — ${check.bagProblems.length} bag problem(s)${
        counts
          ? `, ${counts.REQUIRED} REQUIRED, ${counts.RECOMMENDED} RECOMMENDED, ${counts.OPTIONAL} OPTIONAL finding(s) against Five Safes RO-Crate 0.4`
          : ""
      }`,
    );
  }
  return sound ? ExitCode.ok : ExitCode.failed;
}

export const crate: Command = {
  usage:
    "tremesh crate TASK_ID --out FILE.zip|DIR [--tre NAME | --combined] [--profile FILE] [--json]\n       tremesh crate verify FILE.zip [--trust KEY,…] [--json]",
  examples: [
    "tremesh crate 01JD3… --out results.zip          # the one TRE's crate, as the TRE signed it",
    "tremesh crate 01JD3… --out crates/              # crates/<task>-<tre>.zip per TRE, and <task>-combined.zip",
    "tremesh crate 01JD3… --combined --out all.zip   # the researcher's combined crate: every TRE, received and combined",
    "tremesh crate verify results.zip                 # BagIt sha-512 manifests, the TRE's signature, the Five Safes profile",
    "tremesh crate verify results.zip --trust UAB…,UCD…   # the TRE's signature and reviewers' decisions by these keys only",
  ],
  run(argv, io) {
    return argv[0] === "verify" ? verify(argv.slice(1), io) : build(argv, io);
  },
};
