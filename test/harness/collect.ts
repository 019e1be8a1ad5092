import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";

/** Messages received on one subscription, kept for assertions. */
export interface Collector {
  readonly subscription: Subscription;
  readonly messages: Msg[];
  readonly subjects: () => string[];
}

/** Subscribes `subject` on `nc` and records every message (callback style, so nothing is left unread). */
export function collect(nc: NatsConnection, subject: string): Collector {
  const messages: Msg[] = [];
  const subscription = nc.subscribe(subject, {
    callback: (_error, msg) => {
      messages.push(msg);
    },
  });
  return { subscription, messages, subjects: () => messages.map((m) => m.subject) };
}
