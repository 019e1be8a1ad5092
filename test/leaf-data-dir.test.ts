/**
 * A leaf's dataDir is one TRE's. A TRE onboarded again under a new name (docs/operations.md, rotating a TRE's key)
 * that keeps its old leaf's dataDir is refused at start, naming leaf.yaml's `dataDir` and what to do, before any of
 * the old TRE's streams is touched.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConfigFileError } from "../common/index.js";
import { loadLeafConfig, startLeafNode } from "../leaf/index.js";
import { type Federation, startFederation } from "./harness/federation.js";

let fed: Federation;

beforeAll(async () => {
  fed = await startFederation({ tres: ["a", "b"], researchers: ["alice"], startLeaves: ["a"] });
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("a leaf started on another TRE's dataDir", () => {
  it("is refused at start, naming dataDir, the other TRE's audit log, and that a new name needs a new dataDir", async () => {
    const old = await loadLeafConfig(fed.files.leafConfigs.a!);
    await fed.stopLeaf("a");
    const renamed = await loadLeafConfig(fed.files.leafConfigs.b!);
    const started = startLeafNode({ ...renamed, dataDir: old.dataDir }, { agent: false });
    await expect(started).rejects.toBeInstanceOf(ConfigFileError);
    await expect(started).rejects.toMatchObject({
      message: expect.stringMatching(
        /dataDir: .* holds another TRE's records \(its audit log is tremesh\.audit\.a, not tremesh\.audit\.b\): a TRE onboarded under a new name needs a new, empty dataDir/,
      ),
    });
    // The old TRE's leaf starts on it as before.
    const again = await startLeafNode(old, { agent: false });
    await again.stop();
  });
});
