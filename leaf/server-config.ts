/**
 * A TRE's leaf nats-server config (config mode).
 *
 * Shape:
 * - JetStream in the TRE's own domain (its name), so the hub's streams and the leaf's never mix;
 * - accounts DMZ (bound to the hub link: incoming tasks, OUTBOX) and CTRL (agent state, airlock,
 *   audit; never bound to any link), both with JetStream, plus a local system account;
 * - one leafnode remote that dials OUT to the hub with the TRE's credential (a user/password in config mode,
 *   a creds file in operator mode); no leafnode listener, so nothing can dial in;
 * - the TRE's own boundary on that link (see `leafLinkBoundary`): the hub may create a consumer on OUTBOX
 *   (to source it) and nothing else of the leaf's JetStream.
 */
import { isAbsolute } from "node:path";
import {
  type ClientTlsFiles,
  ConfigModelError,
  type ConfMap,
  type CredsFileCredential,
  checkCredentials,
  LOOPBACK_HOST,
  placeAll,
  remoteTlsBlock,
  type ServerTlsFiles,
  serverTlsBlock,
  TLS_FIRST_FALLBACK,
  toNatsConf,
  type UserCredential,
} from "../common/index.js";
import { HUB_DOMAIN, isTreName, streams, subjects } from "../protocol/index.js";
import { CTRL_ACCOUNT, DMZ_ACCOUNT, LEAF_SYSTEM_ACCOUNT } from "./account-names.js";
import { LEAF_DEFAULTS } from "./leaf-defaults.js";

export interface LeafServerModel {
  /** The TRE's name; also its JetStream domain. */
  tre: string;
  /** `server_name`, shown in the hub's `/leafz`. Letters, digits, `_`, `-`, `.`. */
  serverName: string;
  /** Interface the client (and monitoring) listeners bind. Default "127.0.0.1": the agent runs beside the server. */
  host?: string;
  /** Client port. Default -1: a free port, reported by the launcher. */
  clientPort?: number;
  /** TLS on the client port (reviewers off this machine). Absent: plaintext, on loopback only. */
  tls?: ServerTlsFiles;
  /** HTTP monitoring port (`/varz`, `/leafz`), always on 127.0.0.1. Default -1. */
  monitorPort?: number;
  /** JetStream store directory. */
  storeDir: string;
  /** User in the leaf's system account. */
  system: UserCredential;
  /** Users of the DMZ account (the agent's intake and egress). At least one. */
  dmz: { users: UserCredential[] };
  /** Users of the controlled account (the agent's state and airlock). At least one. */
  ctrl: { users: UserCredential[] };
  /**
   * Reviewers' logins, in the controlled account but limited to the airlock's review API, their own reply
   * inbox, the airlock's events and reading the TRE's audit log (`reviewerPermissions`). Default none.
   */
  reviewers?: UserCredential[];
  /** The hub link. */
  hub: {
    /** The hub's leafnode URLs without credentials, e.g. `nats-leaf://hub.example.org:7422` (TLS outside loopback). */
    urls: string[];
    /** The TRE's leaf credential from onboarding; the hub binds it to this TRE's account only. */
    credential: HubLinkCredential;
    /** The pinned federation CA (and the TRE's own certificate, if any): the link is TLS. Absent: plaintext. */
    tls?: ClientTlsFiles;
  };
}

/**
 * How the leaf authenticates its hub link: a user/password (hub in config mode) or a NATS creds file (hub in
 * operator mode: a user JWT in the TRE's account, with `LEAFNODE` among its connection types). nats-server
 * reads the creds file itself, on every (re)connect, so a renewed file needs no new config.
 */
export type HubLinkCredential = UserCredential | CredsFileCredential;

const LEAF_URL_SCHEMES = new Set(["nats-leaf:", "nats:", "tls:", "ws:", "wss:"]);

/**
 * Renders the leaf config text. Throws ConfigModelError for a bad model. The text contains passwords:
 * write it with owner-only permissions and never log it.
 */
export function leafServerConfig(model: LeafServerModel): string {
  checkLeafModel(model);
  const host = model.host ?? LEAF_DEFAULTS.host;
  const boundary = leafLinkBoundary(model.tre);
  return toNatsConf({
    server_name: model.serverName,
    host,
    port: model.clientPort ?? -1,
    tls: model.tls
      ? serverTlsBlock(model.tls, { verify: false, minVersion: "1.3", handshakeFirst: TLS_FIRST_FALLBACK })
      : undefined,
    // The monitoring port answers the agent's own /leafz: it never leaves the machine, whatever `host` is.
    http: `${LOOPBACK_HOST}:${model.monitorPort ?? -1}`,
    jetstream: { domain: model.tre, store_dir: model.storeDir },
    system_account: LEAF_SYSTEM_ACCOUNT,
    accounts: {
      [LEAF_SYSTEM_ACCOUNT]: { users: [userEntry(model.system)] },
      [DMZ_ACCOUNT]: {
        jetstream: "enabled",
        users: model.dmz.users.map(userEntry),
        mappings: boundary.mappings,
      },
      // Extension point: CTRL reaches DMZ only through explicit exports/imports added here, never the reverse.
      [CTRL_ACCOUNT]: {
        jetstream: "enabled",
        users: [
          ...model.ctrl.users.map(userEntry),
          ...(model.reviewers ?? []).map((c) => ({
            ...userEntry(c),
            permissions: reviewerPermissions(c.user),
          })),
        ],
      },
    },
    leafnodes: {
      remotes: [
        {
          ...hubLinkAuth(model.hub.urls, model.hub.credential),
          // nats-server checks the hub's certificate against the pinned CA and the URL's host name.
          tls: model.hub.tls ? remoteTlsBlock(model.hub.tls) : undefined,
          account: DMZ_ACCOUNT,
          deny_imports: boundary.denyImports,
        },
      ],
    },
  });
}

/**
 * What the TRE lets in over its hub link, enforced by the TRE's own server config.
 *
 * Only DMZ is bound to the link (CTRL and SYS are never reachable from the hub). Within DMZ, the link carries:
 *
 * hub → leaf (the hub's messages reach DMZ subscribers, and DMZ's JetStream only as listed):
 * - tasks on `tremesh.tre.<tre>.in.>` (core NATS, for DMZ subscribers);
 * - INBOX's sourcing of the hub's TASKS: the consumer-create reply (`$JSC.R.…`), the deliveries, heartbeats and
 *   flow-control requests on INBOX's deliver subject (`$JS.S.…`);
 * - the hub's sourcing of OUTBOX: exactly one JetStream API call, consumer create on OUTBOX, which arrives on
 *   `subjects.outboxSourceApi(tre)`.CONSUMER.CREATE.OUTBOX and is mapped here onto the local API; then the
 *   flow-control replies to that consumer (`$JS.FC.OUTBOX.…`);
 * - replies to DMZ clients' own requests (`_INBOX.…`).
 *
 * refused from the hub (`deny_imports`):
 * - `$JS.<tre>.API.>`: the leaf's whole JetStream API as the hub reaches it, so no stream create, update, delete,
 *   purge, message get or delete, consumer delete or list, account info… (nats-server itself already refuses
 *   `$JS.API.>`, `$KV.>` and `$OBJ.>` on a link between different domains);
 * - `$JS.ACK.>`: the hub can never acknowledge (so skip) a message for the agent's consumers;
 * - `$JS.FC.INBOX.>`: nor answer flow control for the agent's consumers on INBOX;
 * - `tremesh.tre.<tre>.out.>`: the TRE's own outbound subjects, so the hub can never write into OUTBOX;
 * - `$SYS.>`: no system request (`$SYS.REQ.ACCOUNT.PING.CONNZ`, `$SYS.REQ.USER.INFO`…) reaches the leaf, so the
 *   hub cannot list the DMZ account's connections.
 *
 * leaf → hub: everything DMZ publishes that the hub has interest in (tasks' sourcing requests, OUTBOX
 * deliveries, status, releases, heartbeats). DMZ is the egress by design; what may leave is decided before
 * it reaches DMZ (the airlock), so no `deny_exports`.
 *
 * nats-server 2.10 enforces `deny_imports` by not announcing interest in those subjects to the hub and by
 * sending them to the hub as the link's deny list, which the hub applies before forwarding: hub-side clients
 * can never get them through. A leaf refuses such messages from a modified hub server itself only from
 * nats-server 2.11.16 / 2.12.7 on (the inbound leaf permission fix).
 */
export function leafLinkBoundary(tre: string): { denyImports: string[]; mappings: Record<string, string> } {
  return {
    denyImports: [
      subjects.jsDomainApi(tre),
      subjects.jsAcks,
      subjects.jsFlowControl(streams.inbox),
      subjects.treOutbound(tre),
      subjects.systemAll,
    ],
    mappings: {
      [subjects.jsConsumerCreate(streams.outbox, subjects.outboxSourceApi(tre))]: subjects.jsConsumerCreate(
        streams.outbox,
      ),
    },
  };
}

/**
 * What a reviewer's login may do on the leaf: ask the airlock (queries and decisions, both signed with the
 * reviewer's own key), hear its events, and read, never write, the TRE's audit stream to verify it: its state, and
 * its records by sequence (direct gets, `directReads`). No consumers: a consumer made on the stream could be another
 * reviewer's to delete, or a durable one left behind. Nothing else of the controlled account: not the airlock's
 * bucket, the agent's state or the dead letters.
 */
function reviewerPermissions(user: string): ConfMap {
  const audit = streams.audit;
  return {
    publish: {
      allow: [
        subjects.airlockQuery,
        subjects.airlockDecide,
        `$JS.API.STREAM.INFO.${audit}`,
        `$JS.API.DIRECT.GET.${audit}`,
      ],
    },
    subscribe: { allow: [`${subjects.reviewerInbox(user)}.>`, subjects.airlockEvents] },
  };
}

function userEntry(c: UserCredential): ConfMap {
  return { user: c.user, password: c.password };
}

/** A creds file goes in the remote's `credentials`; a user/password only fits in its URLs. */
function hubLinkAuth(urls: readonly string[], credential: HubLinkCredential): ConfMap {
  if ("credsFile" in credential) return { urls: [...urls], credentials: credential.credsFile };
  return { urls: urls.map((url) => withCredential(url, credential)) };
}

/** nats-server 2.10 takes a remote's user/password only in the URL; URL encoding keeps any character safe there. */
function withCredential(url: string, credential: UserCredential): string {
  const withAuth = new URL(url);
  withAuth.username = credential.user;
  withAuth.password = credential.password;
  return withAuth.toString();
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function checkLeafModel(model: LeafServerModel): void {
  if (!isTreName(model.tre))
    throw new ConfigModelError("tre", `not a valid TRE name: ${JSON.stringify(model.tre)}`);
  // The leaf's JetStream domain is its TRE name; the hub's own would merge the leaf into the hub's domain.
  if (model.tre === HUB_DOMAIN)
    throw new ConfigModelError("tre", `${JSON.stringify(model.tre)} is the hub's JetStream domain`);
  if (!SERVER_NAME.test(model.serverName)) {
    throw new ConfigModelError("serverName", `not a valid server name: ${JSON.stringify(model.serverName)}`);
  }
  if (model.storeDir === "") throw new ConfigModelError("storeDir", "empty");
  if (model.dmz.users.length === 0) throw new ConfigModelError("dmz.users", "needs at least one user");
  if (model.ctrl.users.length === 0) throw new ConfigModelError("ctrl.users", "needs at least one user");
  if (model.hub.urls.length === 0) throw new ConfigModelError("hub.urls", "needs at least one hub URL");
  model.hub.urls.forEach((url, i) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (cause) {
      throw new ConfigModelError(`hub.urls[${i}]`, "not a URL (tls://host:port)", { cause });
    }
    if (!LEAF_URL_SCHEMES.has(parsed.protocol)) {
      throw new ConfigModelError(`hub.urls[${i}]`, `unsupported scheme ${JSON.stringify(parsed.protocol)}`);
    }
    if (parsed.username !== "" || parsed.password !== "") {
      throw new ConfigModelError(`hub.urls[${i}]`, "must not carry credentials; put them in hub.credential");
    }
  });
  checkCredentials([
    { field: "system", credential: model.system },
    ...placeAll("dmz.users", model.dmz.users),
    ...placeAll("ctrl.users", model.ctrl.users),
    ...placeAll("reviewers", model.reviewers ?? []),
  ]);
  const hubCredential = model.hub.credential;
  if ("credsFile" in hubCredential) {
    // nats-server opens a relative path from its working folder, which says nothing about where the file is.
    if (!isAbsolute(hubCredential.credsFile))
      throw new ConfigModelError("hub.credential.credsFile", "must be an absolute path");
  } else {
    checkCredentials([{ field: "hub.credential", credential: hubCredential }]);
  }
}
