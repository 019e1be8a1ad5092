/**
 * One TLS handshake with a NATS listener (client or leafnode port), as tremesh's clients make it: the handshake first,
 * with the pinned CA, checking the certificate against the host dialled, then the server's INFO inside TLS.
 * A leaf runs it at start so that a hub certificate the TRE does not accept (another CA, another name, expired)
 * is reported in words at once, rather than as a link that silently never comes up; tests use it to see which
 * certificate a server presents.
 */

import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { type TLSSocket, connect as tlsConnect } from "node:tls";
import { type CertificateInfo, certificateInfo } from "./tls-files.js";
import { clientTlsOptions } from "./tls-options.js";

export type TlsProbeResult =
  | { ok: true; certificate: CertificateInfo }
  /** `refused`: the server's certificate was not accepted; `unreachable`: no NATS server answered (yet). */
  | { ok: false; kind: "refused" | "unreachable"; reason: string };

/**
 * Dials `url` and completes a TLS handshake pinned to `tls.caFile` (presenting `tls.certFile` if given). Never
 * throws; the result says why it failed.
 */
export async function probeTls(
  url: string,
  tls: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined },
  timeoutMs = 5_000,
): Promise<TlsProbeResult> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, kind: "unreachable", reason: `${url} is not a URL` };
  }
  const secure = await dialTls(parsed, tls, url);
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const done = (result: TlsProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      secure.destroy();
      resolve(result);
    };
    const deadline = setTimeout(
      () => done({ ok: false, kind: "unreachable", reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    );
    secure.once("secureConnect", () => {
      connected = true;
      const peer = secure.getPeerX509Certificate();
      if (!peer) return done({ ok: false, kind: "refused", reason: "the server presented no certificate" });
      // With TLS 1.3 a server that refuses the client's certificate (or its absence) says so only after the
      // client's side of the handshake is done: the server's INFO, sent after its own checks, means accepted.
      secure.once("data", (chunk: Buffer) =>
        chunk.toString("latin1").startsWith("INFO ")
          ? done({ ok: true, certificate: certificateInfo(new X509Certificate(peer.raw)) })
          : done({ ok: false, kind: "refused", reason: "the server did not speak NATS inside TLS" }),
      );
    });
    secure.once("close", () =>
      done({ ok: false, kind: "refused", reason: "the server closed the TLS session without answering" }),
    );
    secure.once("error", (error: NodeJS.ErrnoException) =>
      done({
        ok: false,
        // A server that is not there (yet) is no refusal of its certificate.
        kind:
          !connected && /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND/.test(error.code ?? "")
            ? "unreachable"
            : "refused",
        reason: error.message,
      }),
    );
  });
}

/**
 * A TLS connection to `parsed` pinned to `tls.caFile` (presenting `tls.certFile` if given), its certificate checked
 * against the host `url` names. The handshake comes first, as tremesh's hub ports require: the server's INFO then
 * arrives inside TLS.
 */
export async function dialTls(
  parsed: URL,
  tls: { caFile: string; certFile?: string | undefined; keyFile?: string | undefined },
  url: string,
): Promise<TLSSocket> {
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const port = Number(parsed.port || 4222);
  const options = clientTlsOptions(tls, [url]);
  const [ca, cert, key] = await Promise.all([
    readFile(options.caFile, "utf8"),
    options.certFile ? readFile(options.certFile, "utf8") : undefined,
    options.keyFile ? readFile(options.keyFile, "utf8") : undefined,
  ]);
  return tlsConnect({
    host,
    port,
    ca,
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(options.checkServerIdentity
      ? { checkServerIdentity: options.checkServerIdentity }
      : { servername: host }),
  });
}
