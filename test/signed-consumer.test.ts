/**
 * consumeSigned, the durable-consumer loop of the agent and the status tracker, on a real JetStream: a refused
 * message is dead-lettered, audited and reported, then acked away; a failure of ours is delivered again;
 * `concurrency` bounds the messages handled at once, and `orderKey` keeps each key's messages in order among them.
 */
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditLog, ensureAuditStream } from "../audit/index.js";
import { DEAD_LETTER_STREAM } from "../common/dead-letter.js";
import {
  type ConsumeSignedOptions,
  consumeSigned,
  ensureDeadLetterStream,
  type RefusedEvent,
  waitFor,
} from "../common/index.js";
import { DeadLetterCode, type Refusal, refusal, streams, unpack } from "../protocol/index.js";
import { type JetStreamServer, startJetStreamServer } from "./harness/jetstream-server.js";
import { uniqueToken } from "./harness/unique.js";

let server: JetStreamServer;
let js: JetStreamClient;
let jsm: JetStreamManager;

beforeAll(async () => {
  server = await startJetStreamServer("signed-consumer");
  ({ js, jsm } = server);
  await ensureDeadLetterStream(jsm, "hub");
  await ensureAuditStream(jsm, { scope: "hub" });
});

afterAll(() => server?.stop());

/** A stream of its own for each test, and the options of a consumer on it. */
async function intake(
  handle: (m: JsMsg) => Promise<Refusal | undefined>,
  more: Partial<ConsumeSignedOptions> = {},
) {
  const token = uniqueToken();
  const stream = `INTAKE_${token}`;
  await jsm.streams.add({ name: stream, subjects: [`intake.${token}.>`] });
  const refused: RefusedEvent[] = [];
  const errors: Error[] = [];
  const consumer = await consumeSigned({
    js,
    jsm,
    stream,
    durable: "test",
    maxMessages: 16,
    handle,
    refuser: {
      js,
      scope: "hub",
      actor: "hub",
      audit: new AuditLog(js, { scope: "hub" }),
      onRefused: (e) => refused.push(e),
    },
    retryMessageAfterMs: 100,
    retryConsumeAfterMs: 100,
    onError: (e) => errors.push(e),
    ...more,
  });
  const publish = (n: number) => js.publish(`intake.${token}.m${n}`, new TextEncoder().encode(`m${n}`));
  return { stream, token, consumer, refused, errors, publish };
}

const text = (m: JsMsg) => new TextDecoder().decode(m.data);

describe("consumeSigned", () => {
  it("dead-letters, audits and reports a refused message, and acks it away", async () => {
    const deadBefore = (await jsm.streams.info(DEAD_LETTER_STREAM)).state.messages;
    const auditBefore = (await jsm.streams.info(streams.audit)).state.messages;
    const t = await intake(async () => refusal(DeadLetterCode.wrongSubject, "not for this test"));
    await t.publish(1);
    await waitFor("the refusal", () => t.refused.length === 1);
    expect(t.refused[0]).toMatchObject({ subject: `intake.${t.token}.m1`, code: "wrong_subject" });
    await waitFor("the dead letter and the audit record", async () => {
      const dead = (await jsm.streams.info(DEAD_LETTER_STREAM)).state.messages;
      const audit = (await jsm.streams.info(streams.audit)).state.messages;
      return dead === deadBefore + 1 && audit === auditBefore + 1;
    });
    const letter = await jsm.streams.getMessage(DEAD_LETTER_STREAM, {
      last_by_subj: "tremesh.deadletter.hub",
    });
    expect(unpack(letter!.data)).toMatchObject({ stream: t.stream, seq: 1, code: "wrong_subject" });
    await waitFor(
      "no message left unacked",
      async () => (await jsm.consumers.info(t.stream, "test")).num_ack_pending === 0,
    );
    await t.consumer.stop();
  });

  it("delivers a message again when handling it failed on our side", async () => {
    const seen: string[] = [];
    const t = await intake(async (m) => {
      seen.push(`${text(m)}${m.redelivered ? " again" : ""}`);
      if (!m.redelivered) throw new Error("store unavailable");
      return undefined;
    });
    await t.publish(1);
    await waitFor("the second delivery", () => seen.length === 2);
    expect(seen).toEqual(["m1", "m1 again"]);
    expect(t.errors.map((e) => e.message)).toEqual(["store unavailable"]);
    expect(t.refused).toEqual([]);
    await t.consumer.stop();
  });

  it("handles one message at a time by default, in stream order, and up to `concurrency` at once", async () => {
    for (const concurrency of [1, 3]) {
      let now = 0;
      let most = 0;
      const order: string[] = [];
      // Held until as many as may run at once are running, so a bound too loose would show.
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const t = await intake(
        async (m) => {
          most = Math.max(most, ++now);
          order.push(text(m));
          await gate;
          now--;
          return undefined;
        },
        { concurrency },
      );
      for (let i = 1; i <= 9; i++) await t.publish(i);
      await waitFor("as many running as may be", () => now === concurrency);
      open();
      await waitFor("every message", () => order.length === 9 && now === 0);
      expect(most).toBe(concurrency);
      if (concurrency === 1) expect(order).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `m${i}`));
      await t.consumer.stop();
    }
  });

  it("with `orderKey`, handles different keys at once and each key's messages one after another, in order", async () => {
    const running = new Map<string, number>();
    const handled: string[] = [];
    let overlapWithinKey = false;
    let most = 0;
    // The first message of each key waits until both keys have one running: it proves different keys overlap.
    let both!: () => void;
    const bothRunning = new Promise<void>((resolve) => {
      both = resolve;
    });
    const keyOf = (m: JsMsg) => (Number(text(m).slice(1)) % 2 === 0 ? "even" : "odd");
    const t = await intake(
      async (m) => {
        const key = keyOf(m);
        if ((running.get(key) ?? 0) > 0) overlapWithinKey = true;
        running.set(key, (running.get(key) ?? 0) + 1);
        most = Math.max(
          most,
          [...running.values()].reduce((a, b) => a + b, 0),
        );
        if (running.get("even") && running.get("odd")) both();
        await Promise.race([bothRunning, new Promise((r) => setTimeout(r, 20))]);
        handled.push(text(m));
        running.set(key, (running.get(key) ?? 1) - 1);
        return undefined;
      },
      { concurrency: 4, orderKey: keyOf },
    );
    for (let i = 1; i <= 10; i++) await t.publish(i);
    await waitFor("every message", () => handled.length === 10);
    await t.consumer.stop();
    expect(overlapWithinKey).toBe(false);
    expect(most).toBe(2);
    expect(handled.filter((h) => Number(h.slice(1)) % 2 === 1)).toEqual(["m1", "m3", "m5", "m7", "m9"]);
    expect(handled.filter((h) => Number(h.slice(1)) % 2 === 0)).toEqual(["m2", "m4", "m6", "m8", "m10"]);
  });
});
