/**
 * Watches the hub's leaf links for a TRE linked twice. A TRE's leaf credential is meant to sit in one leaf server;
 * a second link in the same TRE account means a copy of that credential is in use somewhere (it would receive
 * that TRE's tasks, though nothing of any other TRE). nats-server cannot tell the copy from the original, so the
 * hub raises an alert naming both remote addresses, and the TRE's operator and the federation admin decide
 * (`tremesh admin revoke tre`, new creds). Requiring leaf client certificates (hub.yaml `tls.leafClientCerts`)
 * makes a copied creds file alone useless.
 */
import { fetchLeafz, type MonitorTls } from "../common/index.js";

/** A TRE with more than one leaf link at once: every link's remote address. */
export interface DuplicateLink {
  tre: string;
  remotes: string[];
}

export interface LeafLinkWatchOptions {
  /** The hub's monitoring URL (its own `/leafz`). */
  monitorUrl: string;
  /** For an `https://` monitoring port. */
  tls?: MonitorTls;
  /** How often `/leafz` is read, in ms. Default 5 000. */
  intervalMs?: number;
  /** The TRE whose account the link is bound to, or undefined for an account that is no TRE's. */
  treOfAccount: (account: string) => string | undefined;
  /** Called once for each new set of duplicate links of a TRE. */
  onDuplicate: (duplicate: DuplicateLink) => void;
  onError: (error: Error) => void;
}

/** Starts the watch; the function returned stops it. */
export function watchLeafLinks(options: LeafLinkWatchOptions): () => void {
  const reported = new Map<string, string>();
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const leafz = await fetchLeafz(options.monitorUrl, { tls: options.tls });
      const byTre = new Map<string, string[]>();
      for (const link of leafz.leafs) {
        const tre = options.treOfAccount(link.account);
        if (tre !== undefined) byTre.set(tre, [...(byTre.get(tre) ?? []), `${link.ip}:${link.port}`]);
      }
      for (const tre of reported.keys()) if ((byTre.get(tre)?.length ?? 0) < 2) reported.delete(tre);
      for (const [tre, remotes] of byTre) {
        if (remotes.length < 2) continue;
        const key = remotes.sort().join(",");
        if (reported.get(tre) === key) continue;
        reported.set(tre, key);
        options.onDuplicate({ tre, remotes });
      }
    } catch (error) {
      options.onError(error instanceof Error ? error : new Error(String(error)));
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), options.intervalMs ?? 5_000);
  void check();
  return () => clearInterval(timer);
}
