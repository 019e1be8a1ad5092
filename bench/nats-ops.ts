/**
 * How many NATS messages this process sends while a benchmark's window is open, by who sent them: every `publish`
 * (replies, plain publishes, and each request's message), and of them the `request`s (JetStream publishes, KV reads
 * and writes, service calls), which each wait for an answer. It wraps the client's connection class for the window
 * only, and counts; nothing else changes.
 */
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * Messages sent by connection kind ("hub", "agent", "researcher", "other"): all of them, the requests, and the
 * requests by what they ask of (`requestFamily`).
 */
export type NatsOps = Record<
  string,
  { messages: number; requests: number; requestsTo: Record<string, number> }
>;

/**
 * What a request asks of, from its subject: a KV bucket and its key's first token (`KV TASK_STATE child`: a
 * write of some task's child record), a JetStream API call and the stream it names (`API STREAM.MSG.GET.AUDIT`), with
 * the record a KV read asks for (`API STREAM.MSG.GET.KV_TASK_STATE task`), or a stream's subject with its ids and names left out (`tremesh.tre.*.out.status`: a JetStream publish).
 */
export function requestFamily(subject: string, payload?: unknown): string {
  const tokens = subject.split(".");
  if (tokens[0] === "$KV") return `KV ${tokens[1]} ${tokens[2]}`;
  if (tokens[0] === "$JS" && tokens[1] === "API") {
    const call = `API ${tokens
      .slice(2, 6)
      .filter((t) => /^[A-Z_]+$/.test(t))
      .join(".")}`;
    // A KV read names its record in the request: its key's first token says which kind (`... task`).
    const read = tokens[2] === "STREAM" && tokens[3] === "MSG" ? lastBySubject(payload) : undefined;
    return read?.startsWith("$KV.") ? `${call} ${read.split(".")[2]}` : call;
  }
  // Ids are long and hold digits (ULIDs, task ids): left out. A TRE's name (after `tre`) or an audit chain's scope
  // (after `audit`) becomes `*`, so that every TRE's publishes count as one family.
  return tokens
    .filter((t) => !(t.length >= 12 && /[0-9]/.test(t)))
    .map((t, i, kept) => (i > 0 && (kept[i - 1] === "tre" || kept[i - 1] === "audit") ? "*" : t))
    .join(".");
}

/** The subject a stream message read asks for the last message of (`last_by_subj`), if it is one. */
function lastBySubject(payload: unknown): string | undefined {
  if (!(payload instanceof Uint8Array) && typeof payload !== "string") return undefined;
  try {
    const request = JSON.parse(typeof payload === "string" ? payload : new TextDecoder().decode(payload)) as {
      last_by_subj?: unknown;
    };
    return typeof request.last_by_subj === "string" ? request.last_by_subj : undefined;
  } catch {
    return undefined;
  }
}

/** The connection's kind, from the name tremesh gives its connections. */
function kindOf(nc: NatsConnection): string {
  const name = (nc as unknown as { options?: { name?: string } }).options?.name ?? "";
  if (name.startsWith("tremesh-hub")) return "hub";
  if (name.startsWith("tremesh-agent")) return "agent";
  if (name.startsWith("tremesh-cli")) return "researcher";
  return "other";
}

/** Starts counting the operations of every connection of `sample`'s class; `stop` ends it and returns the counts. */
export function countNatsOps(sample: NatsConnection): { stop: () => NatsOps } {
  const proto = Object.getPrototypeOf(sample) as Record<string, (...args: unknown[]) => unknown>;
  const original = { request: proto.request, publish: proto.publish };
  const ops: NatsOps = {};
  const counter = (method: "request" | "publish", field: "requests" | "messages") =>
    function (this: NatsConnection, ...args: unknown[]) {
      const kind = kindOf(this);
      ops[kind] ??= { messages: 0, requests: 0, requestsTo: {} };
      ops[kind][field]++;
      if (method === "request") {
        const family = requestFamily(String(args[0]), args[1]);
        ops[kind].requestsTo[family] = (ops[kind].requestsTo[family] ?? 0) + 1;
      }
      return original[method]!.apply(this, args);
    };
  proto.request = counter("request", "requests");
  proto.publish = counter("publish", "messages"); // a request sends its message through `publish` too
  return {
    stop: () => {
      proto.request = original.request!;
      proto.publish = original.publish!;
      return ops;
    },
  };
}
