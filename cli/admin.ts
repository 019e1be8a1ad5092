/**
 * `tremesh admin`: the federation admin's edits of the registry (projects, their TREs and members, and
 * researchers' signing keys), over an admin profile (a FED-account user). Every change is validated by
 * the registry before it is written, and takes effect on the next submission.
 */
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import { type Project, Registry, RegistryError } from "../hub/index.js";
import { FieldError, isPublicKey, isTreName, PROJECT_NAME } from "../protocol/index.js";
import { type Command, type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";

const USAGE = [
  "tremesh admin project add NAME --tres a,b --members alice,bob [--from DATE] --until DATE [--title T]",
  "tremesh admin project set NAME [--tres …] [--members …] [--from DATE] [--until DATE]",
  "tremesh admin project show NAME | project list",
  "tremesh admin member add|remove PROJECT RESEARCHER",
  "tremesh admin researcher add NAME --public-key U… | researcher revoke NAME | researcher list",
  "(every admin command takes --profile FILE or TREMESH_PROFILE, and --json)",
].join("\n       ");

function date(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw usageError(`admin: ${flag} ${JSON.stringify(value)} is not a date (YYYY-MM-DD)`);
  return t;
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

const isName = (s: string) => PROJECT_NAME.test(s);

function print(io: Io, json: boolean | undefined, value: unknown, text: () => string[]): void {
  if (json) io.out(JSON.stringify(value, null, 2));
  else for (const line of text()) io.out(line);
}

function projectLines(p: Project): string[] {
  return [
    `project   ${p.name}${p.title ? ` — ${p.title}` : ""}`,
    `approved  ${new Date(p.startsAt).toISOString()} → ${new Date(p.endsAt).toISOString()}`,
    `tres      ${p.tres.join(", ") || "(none)"}`,
    `members   ${p.members.join(", ") || "(none)"}`,
  ];
}

export const admin: Command = {
  name: "admin",
  summary: "federation admin: projects, their TREs and members, researchers' keys",
  usage: USAGE,
  examples: [
    "tremesh admin researcher add alice --public-key UA… --profile admin.profile.yaml",
    "tremesh admin project add diabetes --tres a,b --members alice --until 2027-06-30",
    "tremesh admin member add diabetes bob",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        profile: { type: "string" },
        json: { type: "boolean" },
        tres: { type: "string" },
        members: { type: "string" },
        from: { type: "string" },
        until: { type: "string" },
        title: { type: "string" },
        "public-key": { type: "string" },
      },
    });
    const [noun, verb, name, other] = positionals;
    const key = `${noun ?? ""} ${verb ?? ""}`;
    const needName = () => {
      if (!name || !isName(name))
        throw usageError(`admin ${key}: a name is required (lower case, digits, _ and -)`);
      return name;
    };
    return withHub(values.profile, async (nc) => {
      const registry = await Registry.open(jetstream(nc));
      try {
        switch (key) {
          case "project add": {
            const tres = list("--tres", values.tres, isTreName, "a TRE name") ?? [];
            const members = list("--members", values.members, isName, "a researcher name") ?? [];
            const until = date("--until", values.until);
            if (until === undefined) throw usageError("admin project add: --until DATE is required");
            const project: Project = {
              name: needName(),
              startsAt: date("--from", values.from) ?? Date.now(),
              endsAt: until,
              tres,
              members,
              ...(values.title ? { title: values.title } : {}),
            };
            if (await registry.project(project.name)) {
              throw new CliError(`project ${project.name} exists; use 'admin project set'`, ExitCode.failed);
            }
            await registry.putProject(project);
            print(io, values.json, project, () => projectLines(project));
            return ExitCode.ok;
          }
          case "project set": {
            const tres = list("--tres", values.tres, isTreName, "a TRE name");
            const members = list("--members", values.members, isName, "a researcher name");
            const project = await registry.updateProject(needName(), (p) => ({
              ...p,
              ...(tres ? { tres } : {}),
              ...(members ? { members } : {}),
              ...(values.from ? { startsAt: date("--from", values.from)! } : {}),
              ...(values.until ? { endsAt: date("--until", values.until)! } : {}),
              ...(values.title ? { title: values.title } : {}),
            }));
            print(io, values.json, project, () => projectLines(project));
            return ExitCode.ok;
          }
          case "project show": {
            const project = await registry.project(needName());
            if (!project) throw new CliError(`no project ${name}`, ExitCode.failed);
            print(io, values.json, project, () => projectLines(project));
            return ExitCode.ok;
          }
          case "project list": {
            const projects: Project[] = [];
            for await (const k of await registry.kv.keys("project.>")) {
              const p = await registry.project(k.slice("project.".length));
              if (p) projects.push(p);
            }
            projects.sort((a, b) => a.name.localeCompare(b.name));
            print(io, values.json, projects, () =>
              projects.map(
                (p) => `${p.name.padEnd(24)} tres ${p.tres.join(",")}  members ${p.members.length}`,
              ),
            );
            return ExitCode.ok;
          }
          case "member add":
          case "member remove": {
            const researcher = other;
            if (!researcher || !isName(researcher))
              throw usageError(`admin ${key}: PROJECT RESEARCHER required`);
            if (verb === "add" && !(await registry.researcher(researcher))) {
              throw new CliError(
                `no researcher ${researcher}; add their key first ('admin researcher add')`,
                ExitCode.failed,
              );
            }
            const project = await registry.updateProject(needName(), (p) => ({
              ...p,
              members:
                verb === "add"
                  ? [...new Set([...p.members, researcher])]
                  : p.members.filter((m) => m !== researcher),
            }));
            print(io, values.json, project, () => projectLines(project));
            return ExitCode.ok;
          }
          case "researcher add": {
            const publicKey = values["public-key"];
            if (!publicKey || !isPublicKey(publicKey) || !publicKey.startsWith("U")) {
              throw usageError(
                "admin researcher add: --public-key must be the researcher's nkey user public key (U…)",
              );
            }
            const researcher = { name: needName(), publicKey };
            await registry.putResearcher(researcher);
            print(io, values.json, researcher, () => [`researcher ${researcher.name} ${publicKey}`]);
            return ExitCode.ok;
          }
          case "researcher revoke": {
            const existing = await registry.researcher(needName());
            if (!existing) throw new CliError(`no researcher ${name}`, ExitCode.failed);
            const revoked = { ...existing, revoked: Date.now() };
            await registry.putResearcher(revoked);
            print(io, values.json, revoked, () => [`researcher ${revoked.name} revoked`]);
            return ExitCode.ok;
          }
          case "researcher list": {
            const researchers = await registry.researchers();
            print(io, values.json, researchers, () =>
              researchers.map((r) => `${r.name.padEnd(24)} ${r.publicKey}${r.revoked ? "  (revoked)" : ""}`),
            );
            return ExitCode.ok;
          }
          default:
            throw usageError(`admin: unknown command ${JSON.stringify(key.trim())}\nusage: ${USAGE}`);
        }
      } catch (e) {
        if (e instanceof RegistryError || e instanceof FieldError)
          throw new CliError(e.message, ExitCode.badInput, { cause: e });
        throw e;
      }
    });
  },
};
