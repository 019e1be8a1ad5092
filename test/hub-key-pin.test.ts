/**
 * A TRE's leaf pins the hub's signing key (leaf.yaml `hub.publicKey`). A Dispatch or Cancel signed by any other
 * key, as every task is after the federation changes its hub key and before the TRE pins the new one, is refused
 * into the TRE's dead letters with a reason that says which key leaf.yaml pins and what to do. (A Dispatch's task is
 * also ended `rejected` at that TRE, for its researcher to read: test/tre-key-mismatch.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitFor } from "../common/index.js";
import type { LeafNodeEvent } from "../leaf/index.js";
import { generateKeyPair, signingKeyFromSeed } from "../protocol/index.js";
import { type Federation, startFederation } from "./harness/federation.js";
import { queueSignedBy } from "./harness/signed-elsewhere.js";

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
    const taskId = await queueSignedBy(fed.hub.services.js, "a", otherHub, { cancel: true });
    const mine = await waitFor("both refusals", () => {
      const these = refused.filter((r) => r.subject.endsWith(taskId));
      return these.length === 2 ? these : undefined;
    });
    const pinned = fed.files.hubPublicKey.slice(0, 8);
    for (const r of mine) {
      expect(r.code).toBe("unknown_signer");
      expect(r.reason).toBe(
        `signer ${otherHub.publicKey.slice(0, 8)}… is not trusted: not the hub key leaf.yaml pins (hub.publicKey ${pinned}…); ` +
          "if the federation is changing or changed its hub key, pin the new one as hub.nextPublicKey and restart the leaf",
      );
    }
  });
});
