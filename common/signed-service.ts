/**
 * The signed request/reply services (the hub's submission service and researcher API, a TRE's airlock review
 * API): each request is a signed envelope, opened as the type its subject takes, refused with the service's own
 * reply when it does not verify, handled otherwise. Every request is answered: a failure of ours is answered
 * with the service's `unavailable` reply, never left to time out.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  type MessageType,
  type OpenOptions,
  openEnvelope,
  type ProtocolError,
  pack,
  type VerifiedOf,
} from "../protocol/index.js";
import { asError } from "./as-error.js";

/** One subject of a service, answered with replies of type `R`. */
export interface SignedRoute<R> {
  subject: string;
  /** `replyTo`: the request's reply subject, which names the requester's login where its inbox prefix is theirs. */
  answer: (data: Uint8Array, replyTo?: string) => Promise<R>;
}

/**
 * A subject that takes signed `expect` requests: `open` gives the envelope checks of each request (trust, time,
 * replay guard), `refuse` the reply to one that fails them, `handle` the reply to a verified one.
 */
export function signedRoute<T extends MessageType, R>(route: {
  subject: string;
  expect: T;
  open: () => Omit<OpenOptions<T>, "expect">;
  refuse: (error: ProtocolError, data: Uint8Array) => R | Promise<R>;
  /** `checks` are the options this request was opened with (its `now`, for one); `replyTo` its reply subject. */
  handle: (
    message: VerifiedOf<T>,
    data: Uint8Array,
    checks: Omit<OpenOptions<T>, "expect">,
    replyTo: string | undefined,
  ) => Promise<R>;
}): SignedRoute<R> {
  return {
    subject: route.subject,
    answer: async (data, replyTo) => {
      const checks = route.open();
      const opened = openEnvelope<T>(data, { ...checks, expect: route.expect });
      return opened.ok ? route.handle(opened.value, data, checks, replyTo) : route.refuse(opened.error, data);
    },
  };
}

export interface ServeSignedOptions<R> {
  nc: NatsConnection;
  routes: readonly SignedRoute<R>[];
  /** Queue group shared by every instance of the service; none for a service that runs once. */
  queue?: string;
  /** The answer to a request that failed on our side: the requester may retry. */
  unavailable: R;
  onError: (e: Error) => void;
}

/** A running service. */
export class SignedService {
  private constructor(readonly subs: readonly Subscription[]) {}

  /** Subscribes every route, and resolves once the server has the subscriptions. */
  static async start<R>(opts: ServeSignedOptions<R>): Promise<SignedService> {
    const subs = opts.routes.map((route) =>
      opts.nc.subscribe(route.subject, {
        ...(opts.queue === undefined ? {} : { queue: opts.queue }),
        callback: (_e, msg) => void answer(msg, route, opts),
      }),
    );
    await opts.nc.flush();
    return new SignedService(subs);
  }

  /** Stops taking requests, after answering those received. */
  async stop(): Promise<void> {
    await Promise.all(this.subs.map((s) => s.drain()));
  }
}

async function answer<R>(msg: Msg, route: SignedRoute<R>, opts: ServeSignedOptions<R>): Promise<void> {
  let reply: R;
  try {
    reply = await route.answer(msg.data, msg.reply || undefined);
  } catch (e) {
    opts.onError(asError(e));
    reply = opts.unavailable;
  }
  if (msg.reply) msg.respond(pack(reply));
}

/** Starts a `SignedService`. */
export function serveSigned<R>(opts: ServeSignedOptions<R>): Promise<SignedService> {
  return SignedService.start(opts);
}
