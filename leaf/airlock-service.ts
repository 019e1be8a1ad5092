/**
 * The airlock's review API inside the TRE: reviewers' signed ReviewQuery and Decision requests on the
 * controlled account (`subjects.airlockQuery`, `subjects.airlockDecide`), answered by the agent's Airlock.
 * A failure of ours is answered `unavailable`, never left without an answer.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type SignedService, serveSigned } from "../common/index.js";
import { AirlockErrorCode, type AirlockReply } from "../protocol/index.js";
import type { Airlock } from "./airlock.js";

export class AirlockService {
  private constructor(private readonly service: SignedService) {}

  static async start(
    ctrl: NatsConnection,
    airlock: Airlock,
    onError: (e: Error) => void = () => {},
  ): Promise<AirlockService> {
    const service = await serveSigned<AirlockReply>({
      nc: ctrl,
      routes: airlock.routes(),
      unavailable: {
        status: "error",
        code: AirlockErrorCode.unavailable,
        message: "the airlock could not answer; retry",
      },
      onError,
    });
    return new AirlockService(service);
  }

  async stop(): Promise<void> {
    await this.service.stop();
  }
}
