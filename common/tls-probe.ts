/**
 * One TLS handshake with a NATS listener (client or leafnode port), as its clients make it: read the server's
 * INFO line, then upgrade the same socket with the pinned CA, checking the certificate against the host dialled.
 * A leaf runs it at start so that a hub certificate the TRE does not accept (another CA, another name, expired)
 * is reported in words at once, rather than as a link that silently never comes up; tests use it to see which
 * certificate a server presents.
 */

import { X509Certificate } from "node:crypto";
import { readFile } from "node:fs/promises";
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
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
  const host = parsed.hostname.replace(/^\[|\]$/g, "");
  const port = Number(parsed.port || 4222);
  const options = clientTlsOptions(tls, [url]);
  const [ca, cert, key] = await Promise.all([
    readFile(options.caFile, "utf8"),
    options.certFile ? readFile(options.certFile, "utf8") : undefined,
    options.keyFile ? readFile(options.keyFile, "utf8") : undefined,
  ]);
  const socket = netConnect({ host, port });
  const deadline = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  let info: string;
  try {
    info = await readInfoLine(socket);
  } catch (error) {
    clearTimeout(deadline);
    socket.destroy();
    return { ok: false, kind: "unreachable", reason: (error as Error).message };
  }
  if (!/"tls_required"\s*:\s*true/.test(info)) {
    clearTimeout(deadline);
    socket.destroy();
    return { ok: false, kind: "refused", reason: "the server does not offer TLS on this port" };
  }
  return new Promise((resolve) => {
    const secure = tlsConnect({
      socket,
      ca,
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(options.checkServerIdentity
        ? { checkServerIdentity: options.checkServerIdentity }
        : { servername: host }),
    });
    let settled = false;
    const done = (result: TlsProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      secure.destroy();
      resolve(result);
    };
    secure.once("secureConnect", () => {
      const peer = secure.getPeerX509Certificate();
      if (!peer) return done({ ok: false, kind: "refused", reason: "the server presented no certificate" });
      // With TLS 1.3 a server that refuses the client's certificate (or its absence) says so only after the
      // client's side of the handshake is done: any answer to a PING means the session was accepted.
      secure.once("data", () =>
        done({ ok: true, certificate: certificateInfo(new X509Certificate(peer.raw)) }),
      );
      secure.write("PING\r\n");
    });
    secure.once("close", () =>
      done({ ok: false, kind: "refused", reason: "the server closed the TLS session without answering" }),
    );
    secure.once("error", (error) => done({ ok: false, kind: "refused", reason: error.message }));
  });
}

/** Reads the server's first line, which must be its INFO. */
function readInfoLine(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString("latin1");
      const end = seen.indexOf("\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      socket.pause();
      if (!seen.startsWith("INFO ")) reject(new Error("the server did not speak NATS (no INFO)"));
      else resolve(seen.slice(0, end));
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.once("close", () => reject(new Error("the connection closed before the server's INFO")));
  });
}
