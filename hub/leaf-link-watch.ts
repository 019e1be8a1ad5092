/**
 * Watches the hub's leaf links for a TRE linked twice. A TRE's leaf credential is meant to sit in one leaf server;
 * a second link in the same TRE account means a copy of that credential is in use somewhere (it would receive
 * that TRE's tasks, though nothing of any other TRE). nats-server cannot tell the copy from the original, so the
 * hub raises an alert naming both remote addresses, and the TRE's operator and the federation admin decide
 * (`tremesh admin revoke tre`, new creds). Requiring leaf client certificates (hub.yaml `tls.leafClientCerts`)
 * makes a copied creds file alone useless.
 */
import type { AuditLog } from "../audit/index.js";
import { asError, fetchLeafz, type MonitorTls } from "../common/index.js";

/** A TRE with more than one leaf link at once: every link's remote address. */
export interface DuplicateLink {
  tre: string;
  remotes: string[];
}

/** What the watch reports: an alert, or a failed read of `/leafz` or of the audit log. */
export type LinkWatchEvent =
  | { type: "duplicate-link"; tre: string; remotes: string[] }
  | { type: "error"; error: Error };

export interface LeafLinkWatchOptions {
  /** The hub's monitoring URL (its own `/leafz`). Absent: nothing to watch. */
  monitorUrl: string | undefined;
  /** For an `https://` monitoring port. */
  tls?: MonitorTls;
  /** How often `/leafz` is read, in ms. Default 5 000. */
  intervalMs?: number;
  /** The TRE whose account the link is bound to, or undefined for an account that is no TRE's. */
  treOfAccount: (account: string) => string | undefined;
  /** The hub node's name, as the audit records' actor. */
  actor: string;
  /** Each alert is recorded here too (`tre.link.duplicate`, with both addresses). */
  audit: AuditLog;
  /** Sees each new set of duplicate links of a TRE once, and every error. */
  onEvent?: (event: LinkWatchEvent) => void;
}

/** Starts the watch; the step returned stops it. */
export function watchLeafLinks(options: LeafLinkWatchOptions): () => Promise<void> {
  const monitorUrl = options.monitorUrl;
  if (monitorUrl === undefined) return async () => {};
  const emit = options.onEvent ?? (() => {});
  const onError = (error: Error) => emit({ type: "error", error });
  const onDuplicate = ({ tre, remotes }: DuplicateLink) => {
    emit({ type: "duplicate-link", tre, remotes });
    options.audit
      .append({
        actor: options.actor,
        action: "tre.link.duplicate",
        tre,
        details: { remotes: remotes.join(", ") },
      })
      .catch(onError);
  };
  const reported = new Map<string, string>();
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const leafz = await fetchLeafz(monitorUrl, { tls: options.tls });
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
        onDuplicate({ tre, remotes });
      }
    } catch (error) {
      onError(asError(error));
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void check(), options.intervalMs ?? 5_000);
  void check();
  return async () => clearInterval(timer);
}
