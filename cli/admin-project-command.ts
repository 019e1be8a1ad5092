/**
 * `tremesh admin project …`: registry edits over `--profile` (config mode) or the admin folder's own profile.
 * The checks and the edits are the admin library's (admin/admin-projects.ts); this parses and prints.
 */
import { jetstream } from "@nats-io/jetstream";
import {
  AdminStore,
  allProjects,
  checkProjectMembers,
  checkProjectTres,
  createProject,
  editProjectList,
  projectNamed,
} from "../admin/index.js";
import { ONE_LINE_TEXT, PROJECT_TEXT_MAX, type Project, Registry } from "../hub/index.js";
import { isTreName } from "../protocol/index.js";
import { isName, print, USAGE, type Values } from "./admin-flags.js";
import { type Io, usageError } from "./command.js";
import { ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";
import { printable } from "./printable.js";

/**
 * A `--from` or `--until` date in ms. A bare day (YYYY-MM-DD, UTC) is the whole day: `--from` starts as it does,
 * `--until` ends as it does, so a project "until 2027-06-30" still takes submissions that day.
 */
function date(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usageError(`admin: ${flag} ${JSON.stringify(value)} is not a date (YYYY-MM-DD)`);
  return flag === "--until" && /^\d{4}-\d{2}-\d{2}$/.test(value) ? t + DAY_MS - 1 : t;
}

const DAY_MS = 86_400_000;

const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * A project's approved window, checked here so the error names the flags: `--until` after `--from`, and (when
 * `--until` is given) not already past, since every submission to such a project is refused `project_inactive`.
 */
function checkWindow(verb: string, startsAt: number, endsAt: number, untilGiven: boolean): void {
  if (untilGiven && endsAt <= Date.now())
    throw usageError(
      `admin project ${verb}: --until ${day(endsAt)} is in the past, so every submission would be refused; give a later date`,
    );
  if (endsAt <= startsAt)
    throw usageError(
      `admin project ${verb}: --until ${day(endsAt)} is not after --from ${day(startsAt)}; give a later --until or an earlier --from`,
    );
}

function list(
  flag: string,
  value: string | undefined,
  check: (s: string) => boolean,
  what: string,
): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const bad = items.find((s) => !check(s));
  if (bad !== undefined) throw usageError(`admin: ${flag}: ${JSON.stringify(bad)} is not ${what}`);
  return items;
}

/** What the data use register shows of a project, by the flag that sets it. */
const TEXT_FLAGS = {
  title: "title",
  laySummary: "lay-summary",
  organisation: "organisation",
} as const;
type ProjectText = Partial<Record<keyof typeof TEXT_FLAGS, string>>;

/** Why a `--title`, `--lay-summary` or `--organisation` value is refused; undefined when it is not. */
function textProblem(value: string, max: number, removable: boolean): string | undefined {
  if (value === "") return removable ? undefined : "is empty";
  if (value.trim() === "") return "is blank";
  if (!ONE_LINE_TEXT.test(value))
    return "must be one line of printable text (it has a line break or a control character)";
  if (value.length > max) return `has ${value.length} characters; at most ${max}`;
  return undefined;
}

/**
 * `--title`, `--lay-summary`, `--organisation`, checked here so the error names the flag: one line of printable
 * text within the registry's limits. `set` takes "" to remove one.
 */
function projectText(verb: string, values: Values): ProjectText {
  const text: ProjectText = {};
  for (const [field, flag] of Object.entries(TEXT_FLAGS) as [keyof ProjectText, keyof Values][]) {
    const value = values[flag];
    if (typeof value !== "string") continue;
    const problem = textProblem(value, PROJECT_TEXT_MAX[field], verb === "set");
    if (problem) throw usageError(`admin project ${verb}: --${flag} ${problem}`);
    text[field] = value;
  }
  return text;
}

/** The project with `text` in it; "" removes that field. */
function withText(p: Project, text: ProjectText): Project {
  const next: Project = { ...p };
  for (const [field, value] of Object.entries(text) as [keyof ProjectText, string][])
    if (value === "") delete next[field];
    else next[field] = value;
  return next;
}

/** A project as text; its title, lay summary and organisation made printable, whatever an older entry holds. */
function projectLines(p: Project, revoked: ReadonlySet<string>): string[] {
  return [
    `project       ${p.name}${p.title ? ` — ${p.title}` : ""}`,
    `approved      ${new Date(p.startsAt).toISOString()} → ${new Date(p.endsAt).toISOString()}`,
    `tres          ${p.tres.join(", ") || "(none)"}`,
    `members       ${p.members.map((m) => (revoked.has(m) ? `${m} (revoked: refused)` : m)).join(", ") || "(none)"}`,
    ...(p.organisation ? [`organisation  ${p.organisation}`] : []),
    ...(p.laySummary ? [`lay summary   ${p.laySummary}`] : []),
  ].map(printable);
}

/** The verbs of `admin project` that name a project. */
const NAMED_VERBS: ReadonlySet<string> = new Set([
  "create",
  "set",
  "show",
  "add-member",
  "remove-member",
  "add-tre",
  "remove-tre",
]);

const unknownVerb = (verb: string | undefined) =>
  usageError(
    `${verb === undefined ? "admin project: name a verb" : `admin project: unknown verb ${JSON.stringify(verb)}`}\nusage: ${USAGE}`,
  );

/** Registry edits: over `--profile` (config mode) or the admin folder's own profile. */
export async function projectCommand(rest: string[], values: Values, io: Io): Promise<number> {
  const [verb, name, other] = rest;
  const store = values.profile ? undefined : AdminStore.locate(values.dir);
  const profile = values.profile ?? store?.path("admin.profile.yaml");
  // With the admin folder, TREs are checked against what it onboarded; config mode's TREs are in hub.yaml.
  const state = store ? await store.load() : undefined;
  // Checked before the hub is reached, so a bad value changes nothing.
  if (verb !== "list" && !NAMED_VERBS.has(verb ?? "")) throw unknownVerb(verb);
  // Every verb but `list` names a project: checked here, once.
  const projectName = name ?? "";
  if (verb !== "list") {
    if (!name) throw usageError(`admin project ${verb}: a project name is required`);
    if (!isName(name))
      throw usageError(
        `admin project ${verb}: ${JSON.stringify(name)} is not a project name (lower case letters, digits, _ and -, starting with a letter)`,
      );
  }
  const text = verb === "create" || verb === "set" ? projectText(verb, values) : {};
  let window: { startsAt: number; endsAt: number } | undefined;
  if (verb === "create") {
    const endsAt = date("--until", values.until);
    if (endsAt === undefined) throw usageError("admin project create: --until DATE is required");
    window = { startsAt: date("--from", values.from) ?? Date.now(), endsAt };
    checkWindow(verb, window.startsAt, window.endsAt, true);
  }
  return withHub(profile, async (nc) => {
    const registry = await Registry.open(jetstream(nc));
    const show = async (p: Project) => {
      // A revoked researcher stays listed (the project's record) but is marked in the text: their submissions are
      // refused. The JSON is the record as it is, so it needs no lookups.
      const revoked = new Set<string>();
      if (!values.json)
        for (const m of p.members) if ((await registry.researcher(m))?.revoked !== undefined) revoked.add(m);
      print(io, values.json, p, () => projectLines(p, revoked));
      return ExitCode.ok;
    };
    switch (verb) {
      case "create": {
        const tres = list("--tres", values.tres, isTreName, "a TRE name") ?? [];
        const members = list("--members", values.members, isName, "a researcher name") ?? [];
        checkProjectTres(state, tres);
        await checkProjectMembers(registry, members);
        const project: Project = {
          name: projectName,
          startsAt: window!.startsAt,
          endsAt: window!.endsAt,
          tres,
          members,
          ...text,
        };
        return show(await createProject(registry, project));
      }
      case "set": {
        const tres = list("--tres", values.tres, isTreName, "a TRE name");
        const members = list("--members", values.members, isName, "a researcher name");
        if (tres) checkProjectTres(state, tres);
        if (members) await checkProjectMembers(registry, members);
        return show(
          await registry.updateProject(projectName, (p) => {
            const startsAt = date("--from", values.from) ?? p.startsAt;
            const endsAt = date("--until", values.until) ?? p.endsAt;
            checkWindow("set", startsAt, endsAt, values.until !== undefined);
            return withText(
              { ...p, ...(tres ? { tres } : {}), ...(members ? { members } : {}), startsAt, endsAt },
              text,
            );
          }),
        );
      }
      case "add-member":
      case "remove-member":
      case "add-tre":
      case "remove-tre": {
        const isMember = verb.endsWith("member");
        if (!other || !(isMember ? isName(other) : isTreName(other)))
          throw usageError(`admin project ${verb}: PROJECT ${isMember ? "RESEARCHER" : "TRE"} required`);
        if (verb === "add-member") await checkProjectMembers(registry, [other]);
        if (verb === "add-tre") checkProjectTres(state, [other]);
        return show(
          await editProjectList(
            registry,
            projectName,
            isMember ? "members" : "tres",
            verb.startsWith("add"),
            other,
          ),
        );
      }
      case "show": {
        return show(await projectNamed(registry, projectName));
      }
      case "list": {
        const projects = await allProjects(registry);
        print(io, values.json, projects, () =>
          projects.map((p) => `${p.name.padEnd(24)} tres ${p.tres.join(",")}  members ${p.members.length}`),
        );
        return ExitCode.ok;
      }
      default:
        throw unknownVerb(verb);
    }
  });
}
