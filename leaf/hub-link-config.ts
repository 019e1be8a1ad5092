/**
 * leaf.yaml's `hub` section: how the TRE's leaf dials out to the hub, the hub key it pins, and the rule that keeps
 * the link off plaintext — a hub URL that is neither loopback nor TLS (with the federation CA pinned) is refused
 * unless the section says `insecure: true`.
 *
 * @example
 * hub:
 *   urls: [tls://hub.example.org:7422]
 *   caFile: ./federation-ca.crt           # from the onboarding bundle
 *   credsFile: ./secrets/hub-link.creds   # or user + passwordFile on a config-mode hub
 *   publicKey: UD…                        # the hub's signing key, pinned
 *   # nextPublicKey: UE…                  # only while the federation changes its hub key: the next one, pinned too
 */
import {
  type ClientTlsFiles,
  ConfigFileError,
  isLoopbackHost,
  type LoadedYaml,
  plaintextProblem,
  readClientTls,
  readLogin,
  userPublicKey,
} from "../common/index.js";
import { arr, bool, type Infer, obj, optional, str } from "../protocol/index.js";
import type { HubLinkCredential } from "./server-config.js";

export const hubLinkSchema = obj({
  /** The hub's leafnode URLs (TLS outside loopback). The TRE dials out; nothing dials in. */
  urls: arr(str({ min: 1, max: 2048 }), { min: 1, max: 16 }),
  /** The TRE's leaf user on a config-mode hub, with `passwordFile`. */
  user: optional(str({ min: 1, max: 64, pattern: /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, what: "a user name" })),
  passwordFile: optional(str({ min: 1, max: 4096 })),
  /** Instead of `user` + `passwordFile`, on an operator-mode hub: the TRE's leaf user creds (JWT and seed). */
  credsFile: optional(str({ min: 1, max: 4096 })),
  /** The hub's signing public key: the key the agent accepts Dispatches and Cancels from. */
  publicKey: userPublicKey,
  /**
   * Only while the federation changes its hub key (docs/operations.md, "Change the hub's signing key"): the next
   * signing key, accepted beside `publicKey`, so that no task is refused whichever of the two signed it. Default:
   * none, only `publicKey` is accepted. Once the admin says the change is over, it becomes `publicKey` here.
   */
  nextPublicKey: optional(userPublicKey),
  /**
   * The federation CA's certificate (PEM), pinned: the hub's certificate must chain to it and name the host of
   * the `tls://` URL. Required with `tls://` URLs; from the TRE's onboarding bundle.
   */
  caFile: optional(str({ min: 1, max: 4096 })),
  /** This TRE's own certificate and key for the link (mutual TLS), when the hub asks leaves for one. */
  certFile: optional(str({ min: 1, max: 4096 })),
  keyFile: optional(str({ min: 1, max: 4096 })),
  /**
   * Allow a plaintext link to a non-loopback hub. Default false: a leaf.yaml whose hub URL is neither loopback
   * nor TLS is refused. Only for a network trusted completely; the leaf warns at every start.
   */
  insecure: optional(bool()),
});
export type HubLinkFile = Infer<typeof hubLinkSchema>;

/**
 * The hub link, read and checked. `credential`: user/password, or the creds file's absolute path (checked at load;
 * the server reads it). `tls`: the pinned CA and the TRE's own certificate, if any. `insecure`: a plaintext link to a
 * non-loopback hub, allowed by leaf.yaml (the leaf warns at every start).
 */
export interface HubLink {
  urls: string[];
  credential: HubLinkCredential;
  /** The hub keys pinned: `publicKey`, and `nextPublicKey` during a change of the hub's key. */
  keys: HubKeys;
  tls?: ClientTlsFiles;
  insecure: boolean;
}

/** The hub signing keys a leaf pins: the only signers whose Dispatches and Cancels its agent accepts. */
export interface HubKeys {
  publicKey: string;
  /** The hub's next key, during a change-over. */
  nextPublicKey?: string;
}

/**
 * leaf.yaml's hub link: its URLs under the plaintext rule (a non-loopback hub only over TLS with the pinned CA,
 * unless `insecure`), the TLS files checked, and the credential.
 */
export async function loadHubLink(loaded: LoadedYaml, hub: HubLinkFile, tre: string): Promise<HubLink> {
  const tls =
    hub.caFile === undefined
      ? undefined
      : await readClientTls(loaded, { ...hub, caFile: hub.caFile }, "hub.");
  if (tls === undefined && (hub.certFile !== undefined || hub.keyFile !== undefined))
    throw new ConfigFileError(
      loaded.file,
      "hub.caFile",
      "is required with a client certificate (certFile, keyFile)",
    );
  hub.urls.forEach((url, i) => {
    const problem = plaintextProblem(url, tls ?? {}, hub.insecure, {
      caFile: "hub.caFile",
      insecure: "hub.insecure",
    });
    if (problem !== undefined) throw new ConfigFileError(loaded.file, `hub.urls[${i}]`, problem);
  });
  if (hub.nextPublicKey === hub.publicKey)
    throw new ConfigFileError(
      loaded.file,
      "hub.nextPublicKey",
      "is hub.publicKey already: it names the hub's next key while the federation changes it; otherwise leave it out",
    );
  return {
    urls: hub.urls,
    credential: await hubLinkCredential(loaded, hub, tre),
    keys: {
      publicKey: hub.publicKey,
      ...(hub.nextPublicKey === undefined ? {} : { nextPublicKey: hub.nextPublicKey }),
    },
    ...(tls ? { tls } : {}),
    insecure: tls === undefined && hub.urls.some((u) => !isLoopbackHost(new URL(u).hostname)),
  };
}

/**
 * leaf.yaml's hub-link credential, in exactly one form. A creds file is read and checked now (owner-only, a
 * valid unexpired user JWT with its seed) and must allow a leaf connection of the URLs' kind.
 */
async function hubLinkCredential(
  loaded: LoadedYaml,
  hub: HubLinkFile,
  tre: string,
): Promise<HubLinkCredential> {
  const login = await readLogin(loaded, hub, {
    prefix: "hub.",
    // A websocket leaf link is its own connection type to the hub.
    connectionTypes: [...new Set(hub.urls.map((u) => (/^wss?:/i.test(u) ? "LEAFNODE_WS" : "LEAFNODE")))],
    connectsAs: "a leaf node",
    needs: "the link needs",
    userWithCreds: false,
  });
  if (login.type === "password") return { user: login.user, password: login.password };
  // The admin names each TRE's link user leaf-<tre> in its creds (admin add-tre): another TRE's creds would bind this
  // leaf to that TRE's hub account, where this TRE's tasks never arrive. (A config-mode hub names its users freely.)
  const other = /^leaf-(.+)$/.exec(login.creds.name)?.[1];
  if (other !== undefined && other !== tre)
    throw new ConfigFileError(
      loaded.file,
      "hub.credsFile",
      `${login.creds.path} holds TRE ${other}'s link to the hub (user leaf-${other}), not TRE ${tre}'s: use the hub-link.creds of ${tre}'s onboarding bundle`,
    );
  return { credsFile: login.creds.path };
}
