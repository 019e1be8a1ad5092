/**
 * `tremesh admin register CRATE.zip|DIR…`: the data use register's entry of each project, from the crates the
 * TREs published (a folder is read for its `.zip` files). Every crate is verified first (manifests, its TRE's
 * signature, the profile); one that does not verify is left out, named, and the command fails.
 */
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { bagInfo, checkCrateZip, crateFacts, openBag, registerEntries } from "../crate/index.js";
import { print, type Values } from "./admin-flags.js";
import { type Io, usageError } from "./command.js";
import { crateIsSound } from "./crate-command.js";
import { CliError, ExitCode } from "./exit-codes.js";

export async function registerCommand(paths: string[], values: Values, io: Io): Promise<number> {
  if (paths.length === 0)
    throw usageError("admin register: name the published crates (CRATE.zip or a folder of them)");
  const files: string[] = [];
  for (const path of paths) {
    const info = await stat(path).catch(() => {
      throw new CliError(`admin register: cannot read ${path}`, ExitCode.badInput);
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
        ? `${check.bagProblems[0].path}: ${check.bagProblems[0].problem}`
        : "not a sound tremesh task crate";
      io.err(`left out: ${file} does not verify (${why})`);
      continue;
    }
    facts.push(read);
  }
  const entries = registerEntries(facts);
  print(io, values.json, entries, () =>
    entries.flatMap((e) => [
      `project ${e.projectIdText} — ${e.projectTitle}`,
      `  applicants      ${e.applicantNames.join(", ")} (${e.organisationName})`,
      `  datasets        ${e.datasetNames.join(", ")}`,
      `  outputs         ${e.researchOutputs}`,
      `  access          ${e.accessDate}; latest approval ${e.latestApprovalDate}`,
      `  tasks           ${e.tremesh.tasks.join(", ")}`,
    ]),
  );
  return refused > 0 ? ExitCode.failed : ExitCode.ok;
}
