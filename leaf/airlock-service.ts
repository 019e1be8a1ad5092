/**
 * The airlock's review API inside the TRE: reviewers' signed ReviewQuery and Decision requests on the
 * controlled account (`subjects.airlockQuery`, `subjects.airlockDecide`), answered by the agent's Airlock.
 * A failure of ours is answered `unavailable`, never left without an answer.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { AirlockErrorCode, type AirlockReply, pack, subjects } from "../protocol/index.js";
import type { Airlock } from "./airlock.js";

export class AirlockService {
  readonly #subs: Subscription[];

  private constructor(
    ctrl: NatsConnection,
    airlock: Airlock,
    private readonly onError: (e: Error) => void,
  ) {
    const serve = (subject: string, handle: (data: Uint8Array) => Promise<AirlockReply>) =>
      ctrl.subscribe(subject, { callback: (_e, msg) => void this.#answer(msg, handle) });
    this.#subs = [
      serve(subjects.airlockQuery, (d) => airlock.query(d)),
      serve(subjects.airlockDecide, (d) => airlock.decide(d)),
    ];
  }

  static async start(
    ctrl: NatsConnection,
    airlock: Airlock,
    onError: (e: Error) => void = () => {},
  ): Promise<AirlockService> {
    const service = new AirlockService(ctrl, airlock, onError);
    await ctrl.flush();
    return service;
  }

  async stop(): Promise<void> {
    await Promise.all(this.#subs.map((s) => s.drain()));
  }

  async #answer(msg: Msg, handle: (data: Uint8Array) => Promise<AirlockReply>): Promise<void> {
    let reply: AirlockReply;
    try {
      reply = await handle(msg.data);
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
      reply = {
        status: "error",
        code: AirlockErrorCode.unavailable,
        message: "the airlock could not answer; retry",
      };
    }
    if (msg.reply) msg.respond(pack(reply));
  }
}
