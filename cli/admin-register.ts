/**
 * `tremesh admin register CRATE.zip|DIR…`: the data use register's entry of each project, from the crates the
 * TREs published (a folder is read for its `.zip` files). Every crate is verified first (manifests, its TRE's
 * signature, the profile); one that does not verify is left out, named, and the command fails. Each project's
 * title, lay summary and organisation come from the federation's project registry, read over the admin
 * folder's profile (`--dir`, TREMESH_ADMIN_DIR) or `--profile`, since the crates do not carry them.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { ADMIN_DIR_ENV, AdminStore } from "../admin/index.js";
import {
  bagInfo,
  bagProblemText,
  checkCrateZip,
  crateFacts,
  openBag,
  type RegisterEntry,
  type RegisteredProject,
  type RegistryField,
  registerEntries,
} from "../crate/index.js";
import { Registry } from "../hub/index.js";
import { isName, print, type Values } from "./admin-flags.js";
import { type Io, usageError } from "./command.js";
import { crateIsSound } from "./crate-command.js";
import { ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { cannotRead } from "./input-file.js";
import { printable } from "./printable.js";

/** What an entry holds instead when the registry does not say, by field. */
const FALLBACK: Record<RegistryField, string> = {
  projectTitle: "projectTitle is the project id",
  laySummary: "laySummary left out",
  organisationName: "organisationName as the crates name it",
};

/** The profile the registry is read over: `--profile`, or the admin folder's; none when neither is named. */
function registryProfile(values: Values): string | undefined {
  if (values.profile) return values.profile;
  if (values.dir === undefined && !process.env[ADMIN_DIR_ENV]) return undefined;
  return AdminStore.locate(values.dir).path("admin.profile.yaml");
}

/** Each project's entry in the registry (undefined: none); the registry is read once per project. */
async function registeredProjects(
  profile: string,
  projects: readonly string[],
): Promise<Map<string, RegisteredProject | undefined>> {
  return withHub(profile, async (nc) => {
    const registry = await Registry.open(jetstream(nc));
    const found = new Map<string, RegisteredProject | undefined>();
    // A crate's project id is its TRE's word: one that could be no registry key is simply not registered.
    for (const project of projects)
      found.set(project, isName(project) ? await registry.project(project) : undefined);
    return found;
  });
}

/** The line saying which fields fell back, and why; none when the registry filled all three. */
function fallbackLine(e: RegisterEntry, why: string): string[] {
  const missing = (Object.keys(FALLBACK) as RegistryField[]).filter(
    (f) => !e.tremesh.fromRegistry.includes(f),
  );
  return missing.length === 0
    ? []
    : [`  fallback        ${missing.map((f) => FALLBACK[f]).join("; ")} (${why})`];
}

export async function registerCommand(paths: string[], values: Values, io: Io): Promise<number> {
  if (paths.length === 0)
    throw usageError("admin register: name the published crates (CRATE.zip or a folder of them)");
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch((cause: unknown) => {
      throw cannotRead(path, cause, "admin register");
    });
    if (!info.isDirectory()) files.push(path);
    else
      for (const name of (await readdir(path)).filter((n) => n.endsWith(".zip")).sort())
        files.push(join(path, name));
  }
  const facts = [];
  let refused = 0;
  for (const file of files) {
    const zip = await readFile(file);
    const check = await checkCrateZip(zip);
    const bag = openBag(zip);
    // A sound crate's metadata is JSON: checkCrateZip parsed it.
    const read = crateIsSound(check)
      ? crateFacts(
          JSON.parse(new TextDecoder().decode(bag.payload.get("ro-crate-metadata.json"))),
          bagInfo(bag.files)["External-Identifier"],
        )
      : undefined;
    if (!read) {
      refused++;
      const why = check.bagProblems[0]
        ? bagProblemText(check.bagProblems[0])
        : "not a sound tremesh task crate";
      io.err(`left out: ${file} does not verify (${why})`);
      continue;
    }
    facts.push(read);
  }
  const projects = [...new Set(facts.map((f) => f.project))];
  const profile = registryProfile(values);
  const registered = profile && projects.length > 0 ? await registeredProjects(profile, projects) : undefined;
  if (!profile && projects.length > 0)
    io.err(
      "note: the project registry was not read (give --dir or --profile): titles are project ids, organisations as the crates name them, no lay summaries",
    );
  const entries = registerEntries(facts, (project) => registered?.get(project));
  const why = (project: string) =>
    !registered
      ? "the project registry was not read"
      : registered.get(project)
        ? `not set in its registry entry: admin project set ${project} --title, --lay-summary, --organisation`
        : `no project ${project} in the registry`;
  // The text is the crates' (a TRE's word) and the registry's: made printable, so none of it acts on a terminal.
  print(io, values.json, entries, () =>
    entries
      .flatMap((e) => [
        `project ${e.projectIdText} — ${e.projectTitle}`,
        ...(e.laySummary ? [`  lay summary     ${e.laySummary}`] : []),
        `  applicants      ${e.applicantNames.join(", ")} (${e.organisationName})`,
        `  datasets        ${e.datasetNames.join(", ")}`,
        `  outputs         ${e.researchOutputs}`,
        `  access          ${e.accessDate}; latest approval ${e.latestApprovalDate}`,
        `  tasks           ${e.tremesh.tasks.join(", ")}`,
        ...fallbackLine(e, why(e.projectIdText)),
      ])
      .map(printable),
  );
  return refused > 0 ? ExitCode.failed : ExitCode.ok;
}
