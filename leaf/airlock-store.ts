/**
 * The airlock's store of outputs held inside the TRE: a KV bucket in the controlled account, never
 * reachable from the hub link. Every executor output lands here, `pending`, with its sha256 digest (the
 * value a reviewer's decision will sign); nothing here leaves the TRE except through a Release.
 *
 * Keys: `output.<taskId>.<outputId>`.
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { newId } from "../protocol/index.js";

export const AIRLOCK_BUCKET = "AIRLOCK";

export interface HeldOutput {
  taskId: string;
  outputId: string;
  name: string;
  mediaType: string;
  /** sha256 of the bytes, hex. */
  digest: string;
  size: number;
  state: "pending";
  createdAt: number;
}

export interface NewOutput {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

export class AirlockStore {
  private constructor(readonly kv: KV) {}

  static async open(ctrlJs: JetStreamClient): Promise<AirlockStore> {
    // One output is a small aggregate; the bucket keeps only the latest revision of each entry.
    return new AirlockStore(await new Kvm(ctrlJs).create(AIRLOCK_BUCKET, { history: 1 }));
  }

  /** Holds every output of a task; returns what was stored, in order. */
  async hold(taskId: string, outputs: readonly NewOutput[], now = Date.now()): Promise<HeldOutput[]> {
    const held: HeldOutput[] = [];
    for (const o of outputs) {
      const entry: HeldOutput = {
        taskId,
        outputId: newId(now),
        name: o.name,
        mediaType: o.mediaType,
        digest: createHash("sha256").update(o.bytes).digest("hex"),
        size: o.bytes.length,
        state: "pending",
        createdAt: now,
      };
      await this.kv.put(`data.${taskId}.${entry.outputId}`, o.bytes);
      await this.kv.put(`output.${taskId}.${entry.outputId}`, JSON.stringify(entry));
      held.push(entry);
    }
    return held;
  }

  async outputs(taskId: string): Promise<HeldOutput[]> {
    const out: HeldOutput[] = [];
    for await (const key of await this.kv.keys(`output.${taskId}.*`)) {
      const e = await this.kv.get(key);
      if (e?.operation === "PUT") out.push(e.json() as HeldOutput);
    }
    return out.sort((a, b) => a.outputId.localeCompare(b.outputId));
  }

  async data(taskId: string, outputId: string): Promise<Uint8Array | undefined> {
    const e = await this.kv.get(`data.${taskId}.${outputId}`);
    return e?.operation === "PUT" ? e.value : undefined;
  }
}
