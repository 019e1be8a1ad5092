/**
 * The federation in operator mode, as NATS JWTs: the operator signs every account, each account signs its
 * users. This module is the one place that says what each account may export and import and what each user
 * may publish and subscribe; `tremesh admin` signs what it returns, and the hub's nats-server enforces it.
 *
 * Accounts mirror config mode (server-config.ts) exactly: SYS, FED (hub services), RESEARCH (researchers'
 * connections) and one `TRE_<name>` account per TRE. Cross-account flow is the same list, `hubAccountFlows` and
 * `researcherAccountFlows`; every export requires an activation token made out to the one importing account,
 * so no other account could import it even if someone listed the import.
 *
 * Keys are nkey strings: a seed (`S…`) where this module signs, a public key (`O…`, `A…`, `U…`) otherwise.
 *
 * @example
 * const jwt = await treAccountJwt(operatorSeed, { tre: "a", account: treSeed, fed: fedSeed, storageBytes: 1 << 30 });
 */
import {
  type Account,
  createUser,
  type Export,
  encodeAccount,
  encodeActivation,
  encodeOperator,
  encodeUser,
  fmtCreds,
  fromPublic,
  fromSeed,
  type Import,
  type OperatorLimits,
  type Permissions,
  type RevocationList,
  type User,
} from "@nats-io/jwt";
import { HUB_DOMAIN, jsApiPrefix, streams, subjects } from "../protocol/index.js";
import { type AccountFlow, hubAccountFlows, researcherAccountFlows } from "./account-flows.js";
import { FED_ACCOUNT, HUB_SYSTEM_ACCOUNT, RESEARCH_ACCOUNT, treAccountName } from "./account-names.js";

/** An nkey seed string (`SO…`, `SA…`, `SU…`): a key this side signs with. Secret. */
export type Seed = string;

const encoder = new TextEncoder();
const publicKeyOf = (key: string): string =>
  key.startsWith("S") ? fromSeed(encoder.encode(key)).getPublicKey() : fromPublic(key).getPublicKey();

/** Core NATS limits with nothing capped; JetStream off unless an account's own limits turn it on. */
const OPEN_LIMITS: OperatorLimits = {
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  // No leaf link binds to SYS, FED or RESEARCH: only a TRE's account takes one.
  leaf: 0,
  mem_storage: 0,
  disk_storage: 0,
  streams: 0,
  consumer: 0,
};

/** JetStream without limits, for FED (the hub's own state). */
const UNLIMITED_JETSTREAM: OperatorLimits = {
  mem_storage: -1,
  disk_storage: -1,
  streams: -1,
  consumer: -1,
  max_ack_pending: -1,
  mem_max_stream_bytes: -1,
  disk_max_stream_bytes: -1,
};

/** The operator JWT (self-signed), naming the system account. */
export async function operatorJwt(name: string, operator: Seed, systemAccount: string): Promise<string> {
  return encodeOperator(name, operator, { system_account: publicKeyOf(systemAccount) });
}

/** SYS: server events and the resolver's claim updates. No JetStream, no leaf. */
export async function systemAccountJwt(operator: Seed, account: string): Promise<string> {
  return encodeAccount(
    HUB_SYSTEM_ACCOUNT,
    publicKeyOf(account),
    { limits: OPEN_LIMITS },
    { signer: operator },
  );
}

/** The JWT export of one flow, private to the flow's importer. */
function flowExport(flow: AccountFlow): Export {
  return {
    name: flow.purpose.slice(0, 60),
    subject: flow.subject,
    type: flow.kind,
    token_req: true,
    description: flow.purpose,
  };
}

/** The JWT import of one flow, with the exporter's activation token made out to `importer`. */
async function flowImport(flow: AccountFlow, exporter: Seed, importer: string): Promise<Import> {
  const token = await encodeActivation(
    flow.purpose.slice(0, 60),
    publicKeyOf(importer),
    exporter,
    flow.kind,
    { subject: flow.subject },
  );
  return {
    name: flow.purpose.slice(0, 60),
    account: publicKeyOf(exporter),
    subject: flow.subject,
    type: flow.kind,
    token,
    ...(flow.localSubject === undefined ? {} : { local_subject: flow.localSubject }),
  };
}

export interface FedAccountSpec {
  /** FED's own account key (seed: it signs the activations of its exports). */
  account: Seed;
  /** RESEARCH's account key (public is enough). */
  research: string;
  /** Every member TRE and its account key (seed: it signs the activations of what FED imports from it). */
  tres: readonly { tre: string; account: Seed }[];
}

/**
 * FED: the hub services' account, with unlimited JetStream. Exports the three researcher services to RESEARCH;
 * imports, from each TRE's account, the task publish, heartbeats and the results view's plumbing.
 */
export async function fedAccountJwt(operator: Seed, spec: FedAccountSpec): Promise<string> {
  const fed = publicKeyOf(spec.account);
  const imports: Import[] = [];
  for (const { tre, account } of spec.tres) {
    for (const flow of hubAccountFlows([tre])) imports.push(await flowImport(flow, account, fed));
  }
  const claims: Partial<Account> = {
    limits: { ...OPEN_LIMITS, ...UNLIMITED_JETSTREAM },
    exports: researcherAccountFlows().map(flowExport),
    imports,
    description: "tremesh hub services: submission, dispatch, task state, results, audit",
  };
  return encodeAccount(FED_ACCOUNT, fed, claims, { signer: operator });
}

export interface ResearchAccountSpec {
  account: string;
  /** FED's account key (seed: it signs the activations of the researcher services). */
  fed: Seed;
  /** Revoked researcher connection users: user public key → revocation time, seconds since the epoch. */
  revocations?: RevocationList;
}

/** RESEARCH: researchers' connections. No JetStream; imports only the three researcher services from FED. */
export async function researchAccountJwt(operator: Seed, spec: ResearchAccountSpec): Promise<string> {
  const research = publicKeyOf(spec.account);
  const imports: Import[] = [];
  for (const flow of researcherAccountFlows()) imports.push(await flowImport(flow, spec.fed, research));
  const claims: Partial<Account> = {
    limits: OPEN_LIMITS,
    imports,
    description: "tremesh researchers: submit, cancel and query, nothing else",
    ...(spec.revocations && Object.keys(spec.revocations).length > 0
      ? { revocations: spec.revocations }
      : {}),
  };
  return encodeAccount(RESEARCH_ACCOUNT, research, claims, { signer: operator });
}

export interface TreAccountSpec {
  tre: string;
  account: string;
  /** FED's account key (public is enough). */
  fed: string;
  /** JetStream file storage for the TRE's TASKS and results streams, in bytes. */
  storageBytes: number;
  /**
   * Revoked users of this account (user public key, or `*` for every user issued up to then → seconds since the
   * epoch). Revoking `*` disconnects the TRE's leaf link and the hub's operations user at once.
   */
  revocations?: RevocationList;
}

/** Streams in a TRE's hub account: TASKS and RESULTS_<tre>. */
const TRE_STREAMS = 2;

/**
 * A TRE's leaf dials one hub node at a time, but a clustered hub counts an account's links across its nodes, and
 * when a node dies (SIGKILL, power) the others keep counting that node's link for a minute or more. With a limit
 * of one the TRE could not dial another node until then; two lets it fail over at once, and still refuses a third
 * leaf presenting the same credentials.
 */
const TRE_LEAF_LINKS = 2;
/**
 * Consumers in a TRE's hub account: the leaf's source consumer on TASKS and FED's on the results stream, plus
 * the replacements a reconnect creates while the old ones wait out their inactivity threshold.
 */
const TRE_CONSUMERS = 16;

/**
 * A TRE's account on the hub: file-only JetStream within `storageBytes`, two streams, at most two leaf links
 * (`TRE_LEAF_LINKS`), a handful of client connections (the hub's operations user on each hub node, an admin's
 * short-lived one), and exports of exactly the flows FED imports.
 */
export async function treAccountJwt(operator: Seed, spec: TreAccountSpec): Promise<string> {
  if (!Number.isSafeInteger(spec.storageBytes) || spec.storageBytes < 1 << 20) {
    throw new RangeError(`storageBytes must be a whole number of bytes ≥ 1 MiB, not ${spec.storageBytes}`);
  }
  const claims: Partial<Account> = {
    limits: {
      ...OPEN_LIMITS,
      conn: 8,
      leaf: TRE_LEAF_LINKS,
      disk_storage: spec.storageBytes,
      disk_max_stream_bytes: spec.storageBytes,
      streams: TRE_STREAMS,
      consumer: TRE_CONSUMERS,
    },
    exports: hubAccountFlows([spec.tre]).map(flowExport),
    description: `tremesh TRE ${spec.tre}: its task queue and its results as the hub holds them`,
    ...(spec.revocations && Object.keys(spec.revocations).length > 0
      ? { revocations: spec.revocations }
      : {}),
  };
  return encodeAccount(treAccountName(spec.tre), publicKeyOf(spec.account), claims, { signer: operator });
}

/** Subject permissions of one user, as the JWT carries them. */
export interface UserPermissions {
  pub: string[];
  sub: string[];
}

/**
 * A TRE's leaf-link user, seen from the leaf (nats-server applies a leaf user's `pub` to what the leaf sends
 * and `sub` to what it may receive):
 *
 * leaf → hub: its source consumer on TASKS (create, and flow-control replies), the replies and deliveries of
 * the hub's source consumer on its OUTBOX, and heartbeats.
 * hub → leaf: tasks, the replies and deliveries of its own TASKS consumer, the one API call the hub makes on
 * OUTBOX, and flow control for that consumer.
 *
 * Nothing else of the TRE's hub account: no stream create, update, purge or delete, no message get, no other
 * consumer. nats-server 2.10 withholds from the leaf every subject outside `pub` (the leaf never learns of
 * interest there) and from 2.11.16 also drops such messages at the hub.
 */
export function leafLinkPermissions(tre: string): UserPermissions {
  const tasksCreate = subjects.jsConsumerCreate(streams.tasks, jsApiPrefix(HUB_DOMAIN));
  return {
    pub: [
      tasksCreate,
      `${tasksCreate}.>`,
      subjects.jsFlowControl(streams.tasks),
      "$JSC.R.>",
      "$JS.S.>",
      subjects.heartbeat(tre),
    ],
    sub: [
      subjects.treInbound(tre),
      "$JSC.R.>",
      "$JS.S.>",
      `${subjects.outboxSourceApi(tre)}.>`,
      subjects.jsFlowControl(streams.outbox),
      "_INBOX.>",
    ],
  };
}

/** A researcher's connection: the three researcher services out, its own inbox in (as config mode). */
export function researcherPermissions(user: string): UserPermissions {
  return {
    pub: [subjects.submit, subjects.cancelRequest, subjects.query],
    sub: [`${subjects.researcherInbox(user)}.>`],
  };
}

/**
 * The hub's operations user in a TRE's account: create, update and read its two streams (set-up on every hub
 * start, and the nudge that restarts a stale source), nothing else — no purge, delete or message access.
 */
export function treOpsPermissions(tre: string): UserPermissions {
  const api = [streams.tasks, streams.results(tre)].flatMap((s) => [
    `$JS.API.STREAM.CREATE.${s}`,
    `$JS.API.STREAM.UPDATE.${s}`,
    `$JS.API.STREAM.INFO.${s}`,
  ]);
  return { pub: ["$JS.API.INFO", ...api], sub: ["_INBOX.>"] };
}

export interface UserSpec {
  /** The JWT's name: shown in the server's connection lists; researchers' profiles use it as their user name. */
  name: string;
  /** The signing account's seed. */
  account: Seed;
  /** Subject permissions; omit for an unrestricted user of the account (hub services, admin, system). */
  permissions?: UserPermissions;
  /** Which kind of connection the user may make. */
  connection: "client" | "leaf";
  /** Expiry, ms since the epoch; omit for none (revocation ends a user). */
  expiresAtMs?: number;
}

/**
 * A new user: a fresh user nkey and its JWT, as a creds file's text (the standard format every NATS tool and
 * `credentials:` in nats-server read). The creds hold the user's seed: write them owner-only.
 */
export async function newUserCreds(spec: UserSpec): Promise<{ creds: Uint8Array; userKey: string }> {
  const user = createUser();
  const permissions: Partial<Permissions> | undefined = spec.permissions && {
    pub: { allow: spec.permissions.pub },
    sub: { allow: spec.permissions.sub },
  };
  const claims: Partial<User> = {
    ...(permissions ?? {}),
    allowed_connection_types: spec.connection === "leaf" ? ["LEAFNODE"] : ["STANDARD"],
  };
  const jwt = await encodeUser(spec.name, user, spec.account, claims, {
    ...(spec.expiresAtMs === undefined ? {} : { exp: Math.floor(spec.expiresAtMs / 1000) }),
  });
  return { creds: fmtCreds(jwt, user), userKey: user.getPublicKey() };
}
