import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { unzipSync, zipSync } from "fflate";
import { describe, expect, it } from "vitest";
import { generateKeyPair, newId, sealFresh, signingKeyFromSeed } from "../protocol/index.js";
import { openBag, zipBag } from "./bagit.js";
import { checkCrateZip, zipResultsCrate } from "./crate-zip.js";

const metadata = readFileSync(
  join(import.meta.dirname, "reference-crates", "validator-five-safes-crate-result.json"),
);
const bag = () =>
  zipBag(
    new Map([
      ["ro-crate-metadata.json", new Uint8Array(metadata)],
      ["outputs/qa.csv", new TextEncoder().encode("a,b\n1,2\n")],
    ]),
    { "External-Identifier": "urn:tremesh:task:x" },
  );

/** The bag with one byte of one entry flipped. */
function flipped(zip: Uint8Array, path: string): Uint8Array {
  const entries = unzipSync(zip);
  const bytes = entries[path];
  if (!bytes) throw new Error(`no ${path}`);
  const i = Math.floor(bytes.length / 2);
  bytes[i] = (bytes[i] as number) ^ 1;
  return zipSync(entries);
}

describe("a crate zip", { timeout: 60_000 }, () => {
  it("verifies as a BagIt bag whose metadata meets the profile", async () => {
    const check = await checkCrateZip(bag());
    expect(check.bagProblems).toEqual([]);
    expect(check.profile?.counts).toEqual({ REQUIRED: 0, RECOMMENDED: 0, OPTIONAL: 0 });
    const files = Object.keys(unzipSync(bag())).sort();
    expect(files).toEqual([
      "bag-info.txt",
      "bagit.txt",
      "data/outputs/qa.csv",
      "data/ro-crate-metadata.json",
      "manifest-sha512.txt",
      "tagmanifest-sha512.txt",
    ]);
  });

  // RFC 8493 serializes a bag as its folder (`zip -r bag.zip bag/`): it was "bagit.txt: missing", and both manifests.
  it("reads a bag zipped inside its one folder as the bag it holds, and still catches a change in it", async () => {
    const inFolder = (zip: Uint8Array) =>
      zipSync(Object.fromEntries(Object.entries(unzipSync(zip)).map(([p, b]) => [`request-bag/${p}`, b])));
    const check = await checkCrateZip(inFolder(bag()));
    expect(check.bagProblems).toEqual([]);
    expect(check.profile?.counts).toEqual({ REQUIRED: 0, RECOMMENDED: 0, OPTIONAL: 0 });
    expect((await checkCrateZip(inFolder(flipped(bag(), "data/outputs/qa.csv")))).bagProblems).toContainEqual(
      {
        path: "data/outputs/qa.csv",
        problem: "does not match its sha-512 in manifest-sha512.txt: it was changed",
      },
    );
    // A file beside the folder: not one bag's folder, so read as it is.
    const beside = unzipSync(inFolder(bag()));
    beside["notes.txt"] = new TextEncoder().encode("beside");
    expect(openBag(zipSync(beside)).problems.map((p) => p.path)).toContain("bagit.txt");
  });

  it("names the file a flipped byte changed, in the payload, a manifest or the metadata", async () => {
    for (const [path, changed] of [
      ["data/outputs/qa.csv", "data/outputs/qa.csv"],
      ["data/ro-crate-metadata.json", "data/ro-crate-metadata.json"],
      ["bag-info.txt", "bag-info.txt"],
      ["manifest-sha512.txt", "manifest-sha512.txt"],
    ] as const) {
      const check = await checkCrateZip(flipped(bag(), path));
      expect(
        check.bagProblems.map((p) => p.path),
        path,
      ).toContain(changed);
    }
  });

  it("refuses a file added to the payload without the manifest, and what is not a zip", async () => {
    const entries = unzipSync(bag());
    entries["data/extra.txt"] = new TextEncoder().encode("slipped in");
    expect((await checkCrateZip(zipSync(entries))).bagProblems).toContainEqual({
      path: "data/extra.txt",
      problem: "is in the payload but not in manifest-sha512.txt",
    });
    expect((await checkCrateZip(new TextEncoder().encode("not a zip"))).bagProblems[0]?.problem).toMatch(
      /not a zip/,
    );
  });

  it("refuses entries that would land outside the folder it is unzipped into", async () => {
    for (const name of [
      "../../evil.txt",
      "/etc/evil.txt",
      "data/../../evil.txt",
      "data/./x",
      "C:/evil.txt",
    ]) {
      const entries = unzipSync(bag());
      entries[name] = new TextEncoder().encode("slipped in");
      expect(openBag(zipSync(entries)).problems, name).toContainEqual({
        path: name,
        problem: "is not a path inside the bag (absolute, or with an empty, . or .. part)",
      });
    }
  });

  it("refuses a tag file added beside a TRE's signed tag files", async () => {
    const signer = signingKeyFromSeed(generateKeyPair("user").seed);
    const signed = zipBag(new Map([["ro-crate-metadata.json", new Uint8Array(metadata)]]), {}, { signer });
    expect(openBag(signed).problems).toEqual([]);
    const entries = unzipSync(signed);
    entries["extra.txt"] = new TextEncoder().encode("unsigned");
    expect(openBag(zipSync(entries)).problems).toEqual([
      { path: "extra.txt", problem: "is in the bag but not in tagmanifest-sha512.txt, which the TRE signed" },
    ]);
  });

  it("catches an output changed after review even when the manifests are written again", async () => {
    const reviewer = signingKeyFromSeed(generateKeyPair("user").seed);
    const treKey = signingKeyFromSeed(generateKeyPair("user").seed);
    const tre = treKey.publicKey;
    const data = new TextEncoder().encode("group,n\nA,40\n");
    const digest = createHash("sha256").update(data).digest("hex");
    const now = Date.now();
    const outputId = newId(now);
    const decision = sealFresh(
      "decision",
      { taskId: newId(now), tre: "a", outputId, outputDigest: digest, verdict: "approve" },
      reviewer,
      60_000,
      now,
    );
    const zip = zipResultsCrate(
      {
        task: {
          taskId: newId(now),
          project: "diabetes",
          researcher: "alice",
          kind: "container",
          submittedAt: now - 5000,
          children: [{ tre: "a", history: [] }],
        },
        release: {
          tre: "a",
          treKey: tre,
          treKeyPinned: true,
          releaseId: newId(now),
          releasedAt: now,
          outputs: [{ outputId, name: "table.csv", mediaType: "text/csv", digest, data }],
          withheld: [],
          decisions: [
            { outputId, verdict: "approve", iat: now, signer: reviewer.publicKey, envelope: decision },
          ],
          reviewers: new Map([[reviewer.publicKey, "rita"]]),
        },
        now,
        softwareVersion: "test",
      },
      treKey,
    );
    const signed = await checkCrateZip(zip);
    expect(signed.bagProblems).toEqual([]);
    expect(signed.signedBy).toBe(tre);
    expect((await checkCrateZip(zip, { trustedKeys: [tre, reviewer.publicKey] })).bagProblems).toEqual([]);
    // Pinned keys: the TRE's signature by any other key fails, and so does a decision by one.
    expect((await checkCrateZip(zip, { trustedKeys: [reviewer.publicKey] })).bagProblems).toEqual([
      { path: "tremesh-signature.txt", problem: `is signed by ${tre}, not a key given to trust` },
    ]);
    expect((await checkCrateZip(zip, { trustedKeys: [tre] })).bagProblems).toEqual([
      {
        path: "data/evidence/decision-1.envelope",
        problem: `is signed by ${reviewer.publicKey}, not a key given to trust`,
      },
    ]);

    // Someone changes the released table and writes every manifest again: BagIt alone cannot tell.
    const payload = new Map(
      Object.entries(unzipSync(zip))
        .filter(([p]) => p.startsWith("data/"))
        .map(([p, b]) => [p.slice(5), b] as const),
    );
    payload.set("outputs/table.csv", new TextEncoder().encode("group,n\nA,4\n"));
    const changed = {
      path: "data/outputs/table.csv",
      problem: expect.stringMatching(
        /^is not what the reviewer approved: data\/evidence\/decision-1\.envelope signs/,
      ),
    };
    // Unsigned, as the TRE's crate must not be; signed by another key; or with the TRE's signature kept.
    expect((await checkCrateZip(zipBag(payload, {}))).bagProblems).toEqual([
      { path: "tremesh-signature.txt", problem: "is missing: the crate is not signed by its TRE" },
      changed,
    ]);
    const editor = signingKeyFromSeed(generateKeyPair("user").seed);
    expect((await checkCrateZip(zipBag(payload, {}, { signer: editor }))).bagProblems).toEqual([
      {
        path: "tremesh-signature.txt",
        problem: `is signed by ${editor.publicKey}, not the key of the TRE that published the crate`,
      },
      changed,
    ]);
    const original = unzipSync(zip);
    const resigned: Record<string, Uint8Array> = unzipSync(zipBag(payload, {}, { signer: editor }));
    resigned["tremesh-signature.txt"] = original["tremesh-signature.txt"] as Uint8Array;
    const kept = await checkCrateZip(zipSync(resigned));
    expect(kept.bagProblems).toEqual([
      {
        path: "tremesh-signature.txt",
        problem: expect.stringMatching(/does not match its sha-512 in tagmanifest/),
      },
      {
        path: "bag-info.txt",
        problem: "is not what the TRE signed: tremesh-signature.txt signs another sha-512",
      },
      {
        path: "manifest-sha512.txt",
        problem: "is not what the TRE signed: tremesh-signature.txt signs another sha-512",
      },
      changed,
    ]);
  });

  it("refuses a zip that would unpack past the limit without unpacking it", async () => {
    const big = zipSync({ "data/zeros.bin": new Uint8Array(4 * 1024 * 1024) }, { level: 9 });
    expect(big.length).toBeLessThan(64 * 1024);
    expect(openBag(big, { maxBytes: 1024 * 1024 }).problems).toEqual([
      {
        path: "",
        problem: expect.stringMatching(/^unpacks to more than 1048576 bytes \(at data\/zeros\.bin\)/),
      },
    ]);
  });
});
