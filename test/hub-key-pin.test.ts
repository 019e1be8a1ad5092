/**
 * A TRE's leaf pins the hub's signing key (leaf.yaml `hub.publicKey`). A Dispatch or Cancel signed by any other
 * key, as every task is after the federation changes its hub key and before the TRE pins the new one, is refused
 * into the TRE's dead letters with a reason that says which key leaf.yaml pins and what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import type { LeafNodeEvent } from "../leaf/index.js";
import { generateKeyPair, newId, sealEnvelope, signingKeyFromSeed, subjects } from "../protocol/index.js";
import { type Federation, startFederation } from "./harness/federation.js";

let fed: Federation;
type AgentEvent = Extract<LeafNodeEvent, { type: "agent" }>["event"];
const refused: Extract<AgentEvent, { type: "refused" }>[] = [];

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a"],
    researchers: ["alice"],
    onLeafEvent: (_tre, e) => {
      if (e.type === "agent" && e.event.type === "refused") refused.push(e.event);
    },
  });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("a leaf that pins another hub key", () => {
  it("refuses a Dispatch and a Cancel signed by another key, naming the pinned key and what to do", async () => {
    const otherHub = signingKeyFromSeed(generateKeyPair("user").seed);
    const alice = signingKeyFromSeed(generateKeyPair("user").seed);
    const now = Date.now();
    const times = { iat: now, exp: now + 3_600_000 };
    const taskId = newId();
    const submission = sealEnvelope(
      "submission",
      {
        id: taskId,
        ...times,
        project: "diabetes",
        tres: ["a"],
        analysis: { kind: "count", dataset: "patients" },
      },
      alice,
    );
    const js = fed.hub.services.js;
    await js.publish(
      subjects.dispatch("a", taskId),
      sealEnvelope("dispatch", { id: newId(), ...times, taskId, tre: "a", submission }, otherHub),
      { msgID: newId() },
    );
    await js.publish(
      subjects.cancel("a", taskId),
      sealEnvelope("cancel", { id: newId(), ...times, taskId, tre: "a", reason: "x" }, otherHub),
      { msgID: newId() },
    );
    const mine = await waitFor("both refusals", () => {
      const these = refused.filter((r) => r.subject.endsWith(taskId));
      return these.length === 2 ? these : undefined;
    });
    const pinned = fed.files.hubPublicKey.slice(0, 8);
    for (const r of mine) {
      expect(r.code).toBe("unknown_signer");
      expect(r.reason).toBe(
        `signer ${otherHub.publicKey.slice(0, 8)}… is not trusted: not the hub key leaf.yaml pins (hub.publicKey ${pinned}…); ` +
          "if the federation changed its hub key, put the new one there and restart the leaf",
      );
    }
  });
});
