import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unzipSync, zipSync } from "fflate";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { zipBag } from "./bagit.js";
import { RequestCrateError } from "./request-crate.js";
import { readRequestCrate } from "./request-file.js";
import { zipFiles } from "./zip.js";

const text = (s: string) => new TextEncoder().encode(s);
const METADATA = { "@context": "https://w3id.org/ro/crate/1.2/context", "@graph": [] };

describe("reading a request crate from what a researcher has", () => {
  let tmp: string;
  beforeEach(async () => {
    tmp = await mkdtemp(join(tmpdir(), "tremesh-request-"));
  });
  afterEach(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  async function refusal(file: string): Promise<RequestCrateError> {
    const e = await readRequestCrate(file).catch((x: unknown) => x);
    if (e instanceof RequestCrateError) return e;
    throw new Error(`not refused as a request crate: ${String(e)}`);
  }

  it("takes the crate's ro-crate-metadata.json given as it is, like its folder", async () => {
    const file = join(tmp, "ro-crate-metadata.json");
    await writeFile(file, `\n${JSON.stringify(METADATA)}`);
    expect(await readRequestCrate(file)).toEqual({ metadata: METADATA });
  });

  it("takes a BagIt bag zipped inside its folder, with its External-Identifier", async () => {
    const bag = zipBag(new Map([["ro-crate-metadata.json", text(JSON.stringify(METADATA))]]), {
      "External-Identifier": "urn:example:request:7",
    });
    const file = join(tmp, "bag.zip");
    await writeFile(
      file,
      zipSync(Object.fromEntries(Object.entries(unzipSync(bag)).map(([p, b]) => [`my-bag/${p}`, b]))),
    );
    expect(await readRequestCrate(file)).toEqual({ metadata: METADATA, externalId: "urn:example:request:7" });
  });

  it("names a crate zipped inside its folder, and says what to zip instead", async () => {
    const file = join(tmp, "request.zip");
    await writeFile(
      file,
      zipFiles([["my-crate/ro-crate-metadata.json", text(JSON.stringify(METADATA)), true]]),
    );
    const e = await refusal(file);
    expect(e.message).toContain("holds the crate in the folder my-crate/, not at the zip's top");
    expect(e.message).toContain("zip the folder's contents (cd my-crate && zip -r ../request.zip .)");
  });

  it("says a zip holding no crate and no bag is not an RO-Crate, rather than a bag that does not verify", async () => {
    const file = join(tmp, "photos.zip");
    await writeFile(file, zipFiles([["hello.txt", text("hi"), false]]));
    const e = await refusal(file);
    expect(e.message).toContain(
      "is a zip with no ro-crate-metadata.json and no BagIt bag (bagit.txt) at its top: not an RO-Crate",
    );
    expect(e.message).not.toContain("does not verify");
  });

  it("says a file that is neither a zip nor JSON is neither", async () => {
    const file = join(tmp, "notes.txt");
    await writeFile(file, "not a crate at all\n");
    expect((await refusal(file)).message).toContain(
      "is neither a zip nor a crate's ro-crate-metadata.json (JSON)",
    );
  });
});
