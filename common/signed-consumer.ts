/**
 * The durable-consumer loop of every signed intake (the leaf's agent on INBOX, the hub's status tracker on the
 * TREs' results). Each message is handled once: a handler's `Refusal` sends it to the dead letters (with its
 * audit record and event) and acks it away; a throw is our own failure (a store unavailable), so the message is
 * nak'd and comes back later rather than being lost. A failed `consume()` is reported and tried again.
 *
 * Messages are handled one at a time in stream order by default; `concurrency` handles up to that many at once, and
 * with `orderKey` messages of one key (a task's events from one TRE) still one after another, in the order they came.
 */
import {
  AckPolicy,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import type { Refusal } from "../protocol/index.js";
import { asError } from "./as-error.js";
import { KeyedChain } from "./keyed-chain.js";
import { type Refuser, refuseMessage } from "./refusal.js";
import { Slots } from "./slots.js";

export interface ConsumeSignedOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  stream: string;
  /** The durable consumer's name, shared by every instance; created (explicit acks, 30 s ack wait) if missing. */
  durable: string;
  /** Further settings of a consumer this creates (`max_ack_pending`). */
  consumer?: Partial<ConsumerConfig>;
  /** Messages pulled per batch. */
  maxMessages: number;
  /** Handles one message: returns the refusal to dead-letter it with, or nothing when it was handled. */
  handle: (m: JsMsg) => Promise<Refusal | undefined>;
  /** Who refuses, and where refusals go. */
  refuser: Refuser;
  /** How long a message that failed on our side waits before it is delivered again, in ms. */
  retryMessageAfterMs: number;
  /** How long after a failed `consume()` the loop tries again, in ms. Default 1000. */
  retryConsumeAfterMs?: number;
  /** Messages handled at once. Default 1: one at a time, in stream order. */
  concurrency?: number;
  /**
   * With `concurrency`: messages with the same key are handled one after another in delivery order (a key's next
   * message waits for the one before it), messages with different keys at once. Without it, any order.
   */
  orderKey?: (m: JsMsg) => string;
  /** Our own failures: a message's handling (then retried) or the consumer's. */
  onError: (e: Error) => void;
}

/** A running consumer loop. */
export class SignedConsumer {
  readonly #opts: ConsumeSignedOptions;
  readonly #slots: Slots;
  readonly #inFlight = new Set<Promise<void>>();
  /** Each `orderKey`'s messages, one after another. */
  readonly #byKey = new KeyedChain();
  #stopped = false;
  #close: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  private constructor(opts: ConsumeSignedOptions) {
    this.#opts = opts;
    this.#slots = new Slots(opts.concurrency ?? 1);
  }

  /** Makes sure the durable consumer exists, then starts consuming. */
  static async start(opts: ConsumeSignedOptions): Promise<SignedConsumer> {
    try {
      await opts.jsm.consumers.info(opts.stream, opts.durable);
    } catch {
      await opts.jsm.consumers.add(opts.stream, {
        durable_name: opts.durable,
        ack_policy: AckPolicy.Explicit,
        ack_wait: 30_000_000_000,
        ...opts.consumer,
      });
    }
    const consumer = new SignedConsumer(opts);
    consumer.#loop = consumer.#run();
    return consumer;
  }

  /** Stops taking messages and waits for those being handled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#close?.();
    this.#wake?.();
    await this.#loop;
    await Promise.allSettled(this.#inFlight);
  }

  async #run(): Promise<void> {
    const { js, stream, durable } = this.#opts;
    while (!this.#stopped) {
      try {
        const consumer = await js.consumers.get(stream, durable);
        const messages = await consumer.consume({ max_messages: this.#opts.maxMessages });
        this.#close = () => void messages.close();
        if (this.#stopped) this.#close();
        for await (const m of messages) {
          await this.#slots.acquire();
          if (this.#stopped) {
            this.#slots.release();
            break;
          }
          const work = this.#inOrder(m).finally(() => this.#slots.release());
          this.#inFlight.add(work);
          void work.finally(() => this.#inFlight.delete(work));
        }
      } catch (e) {
        if (this.#stopped) return;
        this.#opts.onError(asError(e));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.#opts.retryConsumeAfterMs ?? 1_000);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  /** Handles `m` once the message of its key taken before it has been handled. */
  #inOrder(m: JsMsg): Promise<void> {
    const key = this.#opts.orderKey?.(m);
    return key === undefined ? this.#handle(m) : this.#byKey.run(key, () => this.#handle(m));
  }

  async #handle(m: JsMsg): Promise<void> {
    try {
      const refused = await this.#opts.handle(m);
      if (refused) {
        await refuseMessage(
          this.#opts.refuser,
          { subject: m.subject, data: m.data, stream: this.#opts.stream, seq: m.seq },
          refused,
        );
      }
      m.ack();
    } catch (e) {
      // Our own failure (a store unavailable…): try again later rather than lose the message.
      this.#opts.onError(asError(e));
      m.nak(this.#opts.retryMessageAfterMs);
    }
  }
}

/** Starts a `SignedConsumer`. */
export function consumeSigned(opts: ConsumeSignedOptions): Promise<SignedConsumer> {
  return SignedConsumer.start(opts);
}
