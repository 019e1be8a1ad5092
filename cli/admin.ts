/**
 * `tremesh admin`: the federation admin's commands.
 *
 * Operator mode (the admin/ library) works on the admin folder (`--dir` or
 * TREMESH_ADMIN_DIR): `init`, `add-tre`, `add-researcher`, `revoke`, `push`, `list`. Registry edits (projects,
 * their TREs and members) go to the hub over the admin folder's profile, or over `--profile FILE` in config
 * mode, where `add-researcher` and `revoke researcher` change the registry only (config mode's connection users
 * live in hub.yaml).
 */
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import {
  AdminStore,
  addResearcher,
  addTre,
  allProjects,
  type FederationState,
  type HubNodePlan,
  initFederation,
  pushAll,
  revokeResearcher,
  revokeTre,
} from "../admin/index.js";
import { isUserPublicKey } from "../common/index.js";
import { type Project, Registry, RegistryError } from "../hub/index.js";
import { FieldError, isTreName, PROJECT_NAME } from "../protocol/index.js";
import { initTlsOption, TLS_USAGE, tlsCommand } from "./admin-tls-command.js";
import { type Command, type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";

const USAGE = [
  "tremesh admin init --dir DIR [--host H] [--client-port N] [--leaf-port N] [--monitor-port N] [--operator NAME]",
  "tremesh admin init --dir DIR --node NAME=HOST --node NAME=HOST --node NAME=HOST   # a 3-node hub cluster",
  "tremesh admin add-tre NAME --signing-key U… [--storage-mb N]",
  "tremesh admin add-researcher NAME --signing-key U…",
  "tremesh admin revoke researcher|tre NAME",
  "tremesh admin push | list",
  "tremesh admin project create NAME --until DATE [--tres a,b] [--members alice,bob] [--from DATE] [--title T]",
  "tremesh admin project add-member|remove-member PROJECT RESEARCHER",
  "tremesh admin project add-tre|remove-tre PROJECT TRE",
  "tremesh admin project set NAME [--tres …] [--members …] [--from DATE] [--until DATE] [--title T]",
  "tremesh admin project show NAME | project list",
  ...TLS_USAGE,
  "(--dir DIR or TREMESH_ADMIN_DIR names the admin folder; config mode: --profile FILE instead; --json everywhere)",
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

function port(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw usageError(`admin init: ${flag} must be a port number`);
  return n;
}

const isName = (s: string) => PROJECT_NAME.test(s);

/** `--node NAME=HOST`: one node of a clustered hub, on the standard ports. */
function hubNode(value: string): HubNodePlan {
  const match = /^([^=\s]+)=([^=\s:/]+|\[[0-9a-fA-F:]+\])$/.exec(value);
  if (!match) throw usageError(`admin init: --node ${JSON.stringify(value)} is not NAME=HOST`);
  return { name: match[1]!, host: match[2]! };
}

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

function stateLines(state: FederationState): string[] {
  const when = (s: number) => new Date(s * 1000).toISOString().slice(0, 19);
  return [
    `operator  ${state.operator.name} ${state.operator.publicKey}`,
    `hub       ${state.hub.clientUrls.join(", ")} (leaves: ${state.hub.leafUrls.join(", ")})`,
    ...Object.entries(state.tres).map(
      ([name, t]) =>
        `tre       ${name.padEnd(20)} ${t.revokedAt === undefined ? `added ${when(t.addedAt)}` : `REVOKED ${when(t.revokedAt)}`}  account ${t.account}`,
    ),
    ...Object.entries(state.researchers).map(
      ([name, r]) =>
        `researcher ${name.padEnd(19)} ${r.revokedAt === undefined ? `added ${when(r.addedAt)}` : `REVOKED ${when(r.revokedAt)}`}  key ${r.signingKey}`,
    ),
  ];
}

const options = {
  dir: { type: "string" },
  profile: { type: "string" },
  json: { type: "boolean" },
  tres: { type: "string" },
  members: { type: "string" },
  from: { type: "string" },
  until: { type: "string" },
  title: { type: "string" },
  "signing-key": { type: "string" },
  "storage-mb": { type: "string" },
  host: { type: "string" },
  operator: { type: "string" },
  "client-port": { type: "string" },
  "leaf-port": { type: "string" },
  "monitor-port": { type: "string" },
  node: { type: "string", multiple: true },
  "tls-ca": { type: "string" },
  "tls-cert": { type: "string", multiple: true },
  "tls-key": { type: "string", multiple: true },
  "no-tls": { type: "boolean" },
  insecure: { type: "boolean" },
  days: { type: "string" },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>["values"];

export const admin: Command = {
  name: "admin",
  summary: "federation admin: operator, TREs, researchers, projects, revocation",
  usage: USAGE,
  examples: [
    "tremesh admin init --dir ./fed-admin --host 127.0.0.1",
    "tremesh admin init --dir ./fed-admin --node hub-1=10.0.0.1 --node hub-2=10.0.0.2 --node hub-3=10.0.0.3",
    "tremesh admin add-tre north --signing-key UB…   # the key from the TRE's 'tremesh leaf keygen'",
    "tremesh admin add-researcher alice --signing-key UA…",
    "tremesh admin project create diabetes --tres north --members alice --until 2027-06-30",
    "tremesh admin revoke researcher alice",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options });
    const [command, ...rest] = positionals;
    try {
      switch (command) {
        case "init":
          return await init(values, io);
        case "add-tre":
        case "add-researcher":
        case "revoke":
        case "push":
        case "list":
          return await operatorCommand(command, rest, values, io);
        case "project":
          return await projectCommand(rest, values, io);
        case "tls":
          return await tlsCommand(rest, values, io);
        default:
          throw usageError(`admin: unknown command ${JSON.stringify(command ?? "")}\nusage: ${USAGE}`);
      }
    } catch (e) {
      if (e instanceof RegistryError || e instanceof FieldError)
        throw new CliError(e.message, ExitCode.badInput, { cause: e });
      throw e;
    }
  },
};

async function init(values: Values, io: Io): Promise<number> {
  if (!values.dir) throw usageError("admin init: --dir DIR is required (the admin folder it creates)");
  const store = new AdminStore(values.dir);
  const ports = {
    ...(values["client-port"] ? { client: port("--client-port", values["client-port"]) } : {}),
    ...(values["leaf-port"] ? { leaf: port("--leaf-port", values["leaf-port"]) } : {}),
    ...(values["monitor-port"] ? { monitor: port("--monitor-port", values["monitor-port"]) } : {}),
  } as { client?: number; leaf?: number; monitor?: number };
  const nodes = values.node?.map(hubNode);
  if (nodes && (values.host || Object.keys(ports).length > 0))
    throw usageError(
      "admin init: --node gives each node's host (standard ports); drop --host and the --*-port flags",
    );
  const result = await initFederation(store, {
    ...(values.host ? { host: values.host } : {}),
    ...(values.operator ? { operatorName: values.operator } : {}),
    ...(nodes ? { nodes } : {}),
    ports,
    ...initTlsOption(values),
  });
  const { hubConfigs } = result;
  print(io, values.json, { dir: store.dir, hubConfigs, state: result.state }, () => [
    `federation ${result.state.operator.name} in ${store.dir}`,
    `operator   ${result.state.operator.publicKey}`,
    `hub key    ${result.state.hub.signingKey} (every leaf pins it)`,
    ...hubConfigs.map((file) => `next:      tremesh hub start --config ${file}`),
    `then:      tremesh admin add-tre NAME --signing-key U… --dir ${store.dir}`,
  ]);
  return ExitCode.ok;
}

async function operatorCommand(command: string, rest: string[], values: Values, io: Io): Promise<number> {
  if (
    values.profile &&
    (command === "add-researcher" || (command === "revoke" && rest[0] === "researcher"))
  ) {
    return configModeResearcher(command, rest, values, io);
  }
  const store = AdminStore.locate(values.dir);
  switch (command) {
    case "add-tre": {
      const [name] = rest;
      if (!name) throw usageError("admin add-tre: NAME is required");
      const storageMb = values["storage-mb"] === undefined ? undefined : Number(values["storage-mb"]);
      if (storageMb !== undefined && (!Number.isInteger(storageMb) || storageMb < 1))
        throw usageError("admin add-tre: --storage-mb must be a whole number of MiB ≥ 1");
      const r = await addTre(store, name, {
        signingKey: values["signing-key"],
        ...(storageMb === undefined ? {} : { storageBytes: storageMb * 1024 * 1024 }),
      });
      if (!r.ready)
        io.err(
          `warning: the hub has not set up TRE ${r.tre}'s streams yet; is it running with treCredsDir ${store.path("hub", "tre-creds")}?`,
        );
      print(io, values.json, r, () => [
        `TRE ${r.tre} added: account ${r.account}`,
        `bundle for its operator: ${r.bundle.dir} (leaf.yaml to complete, hub-link.creds — a secret)`,
      ]);
      return ExitCode.ok;
    }
    case "add-researcher": {
      const [name] = rest;
      if (!name) throw usageError("admin add-researcher: NAME is required");
      const r = await addResearcher(store, name, { signingKey: values["signing-key"] });
      print(io, values.json, r, () => [
        `researcher ${r.name} added`,
        `bundle for them: ${r.bundle.dir} (profile.yaml, ${r.name}.creds — a secret)`,
      ]);
      return ExitCode.ok;
    }
    case "revoke": {
      const [kind, name] = rest;
      if ((kind !== "researcher" && kind !== "tre") || !name)
        throw usageError("admin revoke: researcher NAME | tre NAME");
      if (kind === "researcher") {
        await revokeResearcher(store, name);
        print(io, values.json, { revoked: { researcher: name } }, () => [
          `researcher ${name} revoked: connections closed, submissions refused`,
        ]);
      } else {
        const { projects } = await revokeTre(store, name);
        print(io, values.json, { revoked: { tre: name }, projects }, () => [
          `TRE ${name} revoked: leaf link closed${projects.length ? `; removed from ${projects.join(", ")}` : ""}`,
        ]);
      }
      return ExitCode.ok;
    }
    case "push": {
      const pushed = await pushAll(store);
      print(io, values.json, { pushed }, () => pushed.map((f) => `pushed ${f}`));
      return ExitCode.ok;
    }
    default: {
      const state = await store.load();
      print(io, values.json, state, () => stateLines(state));
      return ExitCode.ok;
    }
  }
}

/** Config mode: the researcher's signing key in the registry (the connection user lives in hub.yaml). */
async function configModeResearcher(
  command: string,
  rest: string[],
  values: Values,
  io: Io,
): Promise<number> {
  const name = command === "revoke" ? rest[1] : rest[0];
  if (!name || !isName(name)) throw usageError(`admin ${command}: a researcher NAME is required`);
  return withHub(values.profile, async (nc) => {
    const registry = await Registry.open(jetstream(nc));
    if (command === "add-researcher") {
      const publicKey = values["signing-key"];
      if (!publicKey || !isUserPublicKey(publicKey))
        throw usageError("admin add-researcher: --signing-key must be the researcher's public key (U…)");
      await registry.putResearcher({ name, publicKey });
      print(io, values.json, { name, publicKey }, () => [`researcher ${name} ${publicKey}`]);
      return ExitCode.ok;
    }
    const existing = await registry.researcher(name);
    if (!existing) throw new CliError(`no researcher ${name}`, ExitCode.failed);
    await registry.putResearcher({ ...existing, revoked: Date.now() });
    print(io, values.json, { revoked: { researcher: name } }, () => [`researcher ${name} revoked`]);
    return ExitCode.ok;
  });
}

/** Registry edits: over `--profile` (config mode) or the admin folder's own profile. */
async function projectCommand(rest: string[], values: Values, io: Io): Promise<number> {
  const [verb, name, other] = rest;
  const store = values.profile ? undefined : AdminStore.locate(values.dir);
  const profile = values.profile ?? store?.path("admin.profile.yaml");
  // With the admin folder, TREs are checked against what it onboarded; config mode's TREs are in hub.yaml.
  const state = store ? await store.load() : undefined;
  const checkTres = (tres: readonly string[]) => {
    const unknown = state
      ? tres.find((t) => !state.tres[t] || state.tres[t].revokedAt !== undefined)
      : undefined;
    if (unknown !== undefined)
      throw new CliError(`no TRE ${unknown} in this federation (or it is revoked)`, ExitCode.failed);
  };
  const needName = () => {
    if (!name || !isName(name))
      throw usageError(
        `admin project ${verb ?? ""}: a project name is required (lower case, digits, _ and -)`,
      );
    return name;
  };
  return withHub(profile, async (nc) => {
    const registry = await Registry.open(jetstream(nc));
    const checkMembers = async (members: readonly string[]) => {
      for (const m of members) {
        const r = await registry.researcher(m);
        if (!r || r.revoked !== undefined)
          throw new CliError(`no researcher ${m}; add them first ('admin add-researcher')`, ExitCode.failed);
      }
    };
    const show = (p: Project) => {
      print(io, values.json, p, () => projectLines(p));
      return ExitCode.ok;
    };
    switch (verb) {
      case "create": {
        const tres = list("--tres", values.tres, isTreName, "a TRE name") ?? [];
        const members = list("--members", values.members, isName, "a researcher name") ?? [];
        const until = date("--until", values.until);
        if (until === undefined) throw usageError("admin project create: --until DATE is required");
        checkTres(tres);
        await checkMembers(members);
        const project: Project = {
          name: needName(),
          startsAt: date("--from", values.from) ?? Date.now(),
          endsAt: until,
          tres,
          members,
          ...(values.title ? { title: values.title } : {}),
        };
        if (await registry.project(project.name))
          throw new CliError(`project ${project.name} exists; use 'admin project set'`, ExitCode.failed);
        await registry.putProject(project);
        return show(project);
      }
      case "set": {
        const tres = list("--tres", values.tres, isTreName, "a TRE name");
        const members = list("--members", values.members, isName, "a researcher name");
        if (tres) checkTres(tres);
        if (members) await checkMembers(members);
        return show(
          await registry.updateProject(needName(), (p) => ({
            ...p,
            ...(tres ? { tres } : {}),
            ...(members ? { members } : {}),
            ...(values.from ? { startsAt: date("--from", values.from)! } : {}),
            ...(values.until ? { endsAt: date("--until", values.until)! } : {}),
            ...(values.title ? { title: values.title } : {}),
          })),
        );
      }
      case "add-member":
      case "remove-member":
      case "add-tre":
      case "remove-tre": {
        const project = needName();
        const isMember = verb.endsWith("member");
        if (!other || !(isMember ? isName(other) : isTreName(other)))
          throw usageError(`admin project ${verb}: PROJECT ${isMember ? "RESEARCHER" : "TRE"} required`);
        if (verb === "add-member") await checkMembers([other]);
        if (verb === "add-tre") checkTres([other]);
        const field = isMember ? "members" : "tres";
        const adding = verb.startsWith("add");
        return show(
          await registry.updateProject(project, (p) => ({
            ...p,
            [field]: adding ? [...new Set([...p[field], other])] : p[field].filter((x) => x !== other),
          })),
        );
      }
      case "show": {
        const project = await registry.project(needName());
        if (!project) throw new CliError(`no project ${name}`, ExitCode.failed);
        return show(project);
      }
      case "list": {
        const projects = await allProjects(registry);
        print(io, values.json, projects, () =>
          projects.map((p) => `${p.name.padEnd(24)} tres ${p.tres.join(",")}  members ${p.members.length}`),
        );
        return ExitCode.ok;
      }
      default:
        throw usageError(`admin project: unknown verb ${JSON.stringify(verb ?? "")}\nusage: ${USAGE}`);
    }
  });
}
