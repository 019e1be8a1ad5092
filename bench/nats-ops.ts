/**
 * How many NATS messages this process sends while a benchmark's window is open, by who sent them: every `publish`
 * (replies, plain publishes, and each request's message), and of them the `request`s (JetStream publishes, KV reads
 * and writes, service calls), which each wait for an answer. It wraps the client's connection class for the window
 * only, and counts; nothing else changes.
 */
import type { NatsConnection } from "@nats-io/transport-node";

/** Messages sent by connection kind ("hub", "agent", "researcher", "other"): all of them, and the requests. */
export type NatsOps = Record<string, { messages: number; requests: number }>;

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
      ops[kind] ??= { messages: 0, requests: 0 };
      ops[kind][field]++;
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
