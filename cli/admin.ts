/**
 * `tremesh admin`: the federation admin's commands.
 *
 * Operator mode (the admin/ library) works on the admin folder (`--dir` or TREMESH_ADMIN_DIR): `init`, `add-tre`,
 * `add-researcher`, `revoke`, `push`, `list`, `rotate-hub-key`. Registry edits (projects, their TREs and members)
 * go to the hub over the admin folder's profile, or over `--profile FILE` in config mode, where `add-researcher`
 * and `revoke researcher` change the registry only (config mode's connection users live in hub.yaml).
 */
import { parseArgs } from "node:util";
import { jetstream } from "@nats-io/jetstream";
import {
  AdminStore,
  addResearcher,
  addTre,
  type FederationState,
  type HubNodePlan,
  initFederation,
  pushAll,
  putResearcherKey,
  revokeResearcher,
  revokeResearcherKey,
  revokeTre,
  setTreStorage,
} from "../admin/index.js";
import { isUserPublicKey } from "../common/index.js";
import { Registry, RegistryError } from "../hub/index.js";
import { FieldError } from "../protocol/index.js";
import { isName, options, print, USAGE, type Values } from "./admin-flags.js";
import { rotateHubKeyCommand } from "./admin-hub-key-command.js";
import { projectCommand } from "./admin-project-command.js";
import { registerCommand } from "./admin-register.js";
import { initTlsOption, tlsCommand } from "./admin-tls-command.js";
import { type Command, type Io, usageError } from "./command.js";
import { CliError, ExitCode } from "./exit-codes.js";
import { withHub } from "./hub-session.js";

function port(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65_535)
    throw usageError(`admin init: ${flag} must be a port number`);
  return n;
}

/** `--host`: a host name or an IP address, as the hub's URLs will carry it. */
function hostFlag(value: string): string {
  if (/^[0-9a-fA-F]*:[0-9a-fA-F:]*$/.test(value))
    throw usageError(
      `admin init: --host ${value}: an IPv6 address goes in brackets, as in a URL: --host [${value}]`,
    );
  const name = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
  if (!name.test(value) && !/^\[[0-9a-fA-F:]+\]$/.test(value))
    throw usageError(`admin init: --host ${JSON.stringify(value)} is not a host name or IP address`);
  return value;
}

/** `--client-url` and `--leaf-url`: URLs as people dial them. */
function urlFlags(flag: string, values: readonly string[] | undefined): string[] | undefined {
  for (const value of values ?? [])
    if (!URL.canParse(value)) throw usageError(`admin init: ${flag} ${JSON.stringify(value)} is not a URL`);
  return values ? [...values] : undefined;
}

/** `--node NAME=HOST`: one node of a clustered hub, on the standard ports. */
function hubNode(value: string): HubNodePlan {
  const match = /^([^=\s]+)=([^=\s:/]+|\[[0-9a-fA-F:]+\])$/.exec(value);
  if (!match) throw usageError(`admin init: --node ${JSON.stringify(value)} is not NAME=HOST`);
  return { name: match[1]!, host: match[2]! };
}

function stateLines(state: FederationState): string[] {
  const when = (s: number) => new Date(s * 1000).toISOString().slice(0, 19);
  return [
    `operator  ${state.operator.name} ${state.operator.publicKey}`,
    `hub       ${state.hub.clientUrls.join(", ")} (leaves: ${state.hub.leafUrls.join(", ")})`,
    `hub key   ${state.hub.signingKey}${state.hub.nextSigningKey === undefined ? "" : ` (changing to ${state.hub.nextSigningKey}: rotate-hub-key --finish ends it)`}`,
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

export const admin: Command = {
  usage: USAGE,
  examples: [
    "tremesh admin init --dir ./fed-admin --host 127.0.0.1",
    "tremesh admin init --dir ./fed-admin --node hub-1=10.0.0.1 --node hub-2=10.0.0.2 --node hub-3=10.0.0.3",
    "tremesh admin add-tre north --signing-key UB…   # the key from the TRE's 'tremesh leaf keygen'",
    "tremesh admin add-researcher alice --signing-key UA…",
    "tremesh admin project create diabetes --tres north --members alice --until 2027-06-30",
    "tremesh admin revoke researcher alice",
    "tremesh admin register crates/ --json   # a data use register entry per project, from published crates",
    "tremesh admin rotate-hub-key --seed-file hub/secrets/hub-2.seed   # then, when the TREs and the hub have switched: --finish",
  ],
  async run(argv, io) {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options });
    const [command, ...rest] = positionals;
    try {
      switch (command) {
        case "init":
          return await init(values, io);
        case "add-tre":
        case "set-tre":
        case "add-researcher":
        case "revoke":
        case "push":
        case "list":
          return await operatorCommand(command, rest, values, io);
        case "project":
          return await projectCommand(rest, values, io);
        case "tls":
          return await tlsCommand(rest, values, io);
        case "register":
          return await registerCommand(rest, values, io);
        case "rotate-hub-key":
          return await rotateHubKeyCommand(rest, values, io);
        default:
          throw usageError(
            `${command === undefined ? "admin: name a command" : `admin: unknown command ${JSON.stringify(command)}`}\nusage: ${USAGE}`,
          );
      }
    } catch (e) {
      // The registry's refusals (no such project, a concurrent change) are a failed operation, as main.ts has them.
      if (e instanceof RegistryError) throw new CliError(e.message, ExitCode.failed, { cause: e });
      if (e instanceof FieldError) throw new CliError(e.message, ExitCode.badInput, { cause: e });
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
    ...(values.host ? { host: hostFlag(values.host) } : {}),
    ...(values.operator ? { operatorName: values.operator } : {}),
    ...(nodes ? { nodes } : {}),
    ports,
    ...(values["client-url"] ? { clientUrls: urlFlags("--client-url", values["client-url"])! } : {}),
    ...(values["leaf-url"] ? { leafUrls: urlFlags("--leaf-url", values["leaf-url"])! } : {}),
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
      const storageMb = storageMbFlag("add-tre", values);
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
    case "set-tre": {
      const [name] = rest;
      if (!name) throw usageError("admin set-tre: NAME is required");
      const storageMb = storageMbFlag("set-tre", values);
      if (storageMb === undefined) throw usageError("admin set-tre: --storage-mb N is required");
      const r = await setTreStorage(store, name, storageMb * 1024 * 1024);
      const mib = (bytes: number | undefined) =>
        bytes === undefined ? "the default" : `${bytes / (1024 * 1024)} MiB`;
      print(io, values.json, r, () => [
        `TRE ${r.tre}: hub account storage ${mib(r.storageBytes)} (was ${mib(r.previousBytes)}), in force at the hub`,
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
      // A second revocation pushes it again and says since when it stands.
      const again = (since: number | undefined) =>
        since === undefined
          ? ""
          : ` (already since ${new Date(since * 1000).toISOString().slice(0, 19)}Z; pushed again)`;
      if (kind === "researcher") {
        const { alreadySince } = await revokeResearcher(store, name);
        print(io, values.json, { revoked: { researcher: name }, alreadySince }, () => [
          `researcher ${name} revoked${again(alreadySince)}: connections closed, submissions refused`,
        ]);
      } else {
        const { projects, alreadySince } = await revokeTre(store, name);
        print(io, values.json, { revoked: { tre: name }, projects, alreadySince }, () => [
          `TRE ${name} revoked${again(alreadySince)}: leaf link closed${projects.length ? `; removed from ${projects.join(", ")}` : ""}`,
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

/** `--storage-mb N`: a whole number of MiB, at least 1; undefined when not given. */
function storageMbFlag(command: string, values: Values): number | undefined {
  if (values["storage-mb"] === undefined) return undefined;
  const storageMb = Number(values["storage-mb"]);
  if (!Number.isInteger(storageMb) || storageMb < 1)
    throw usageError(`admin ${command}: --storage-mb must be a whole number of MiB ≥ 1`);
  return storageMb;
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
      await putResearcherKey(registry, { name, publicKey });
      print(io, values.json, { name, publicKey }, () => [`researcher ${name} ${publicKey}`]);
      return ExitCode.ok;
    }
    await revokeResearcherKey(registry, name);
    print(io, values.json, { revoked: { researcher: name } }, () => [`researcher ${name} revoked`]);
    return ExitCode.ok;
  });
}
