/**
 * Changing the hub's signing key without a task refused on the way (docs/operations.md, "Rotate keys and secrets"):
 * the admin begins the change (`tremesh admin rotate-hub-key --seed-file NEW`), a TRE pins the next key beside the
 * current one (leaf.yaml `hub.nextPublicKey`), the hub switches to NEW, and the admin ends the change (`--finish`).
 * A leaf pinning both keys takes a Dispatch signed by either, one queued under the old key while it was offline
 * too; a leaf pinning only the old key refuses the new key's Dispatch, naming the key it pins, and ends its part of
 * the task.
 */
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { ExitCode } from "../cli/exit-codes.js";
import { run } from "../cli/main.js";
import { waitFor } from "../common/index.js";
import type { LeafNodeEvent } from "../leaf/index.js";
import { generateKeyPair, newId, signingKeyFromSeed, subjects, type TaskView } from "../protocol/index.js";
import {
  approveProject,
  type CliResult,
  childReaches,
  type Federation,
  startFederation,
  taskView,
} from "./harness/federation.js";
import { queueSignedBy } from "./harness/signed-elsewhere.js";

let fed: Federation;
let adminDir: string;
/** The hub's key when the federation starts, and the next one, whose seed sits beside the hub's in the admin folder. */
let oldKey: string;
let newKey: string;
const NEW_SEED = "hub-next.seed";
type AgentEvent = Extract<LeafNodeEvent, { type: "agent" }>["event"];
const refused: (Extract<AgentEvent, { type: "refused" }> & { tre: string })[] = [];

/** `tremesh …` in-process, with no profile: the commands the admin and the TRE run on their own files. */
async function tremesh(...argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await run(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

/** `tremesh admin …` on the admin folder (operator mode). */
const admin = (...argv: string[]) => tremesh("admin", ...argv, "--dir", adminDir);

async function federationJson(): Promise<{ hub: { signingKey: string; nextSigningKey?: string } }> {
  return JSON.parse(await readFile(join(adminDir, "federation.json"), "utf8"));
}

/** A TRE operator's edit of the hub keys their leaf.yaml pins (the leaf takes it at its next start). */
async function pinHubKeys(tre: string, hub: { publicKey: string; nextPublicKey?: string }): Promise<void> {
  const file = fed.files.leafConfigs[tre]!;
  const config = parse(await readFile(file, "utf8")) as { hub: Record<string, unknown> };
  const { nextPublicKey: _dropped, ...rest } = config.hub;
  config.hub = { ...rest, ...hub };
  await writeFile(file, stringify(config));
}

async function restartLeaf(tre: string): Promise<void> {
  await fed.stopLeaf(tre);
  await fed.startLeaf(tre);
}

async function submit(tres: string): Promise<string> {
  const file = join(fed.files.dir, `count-${newId()}.json`);
  await writeFile(file, JSON.stringify({ kind: "count", dataset: "patients" }));
  const r = await fed.cli(["submit", "--project", "diabetes", "--tres", tres, file], "alice");
  expect(r).toMatchObject({ code: 0, err: [] });
  return r.out[0]!;
}

/** What the researcher sees of `taskId` at `tre` once that TRE's agent has verified its Dispatch. */
async function receivedAt(taskId: string, tre: string) {
  return waitFor(`TRE ${tre} to verify task ${taskId}'s Dispatch`, async () => {
    const r = await fed.cli(["status", taskId, "--json"], "alice");
    const child = (JSON.parse(r.out.join("\n")) as TaskView).children.find((c) => c.tre === tre);
    return child?.history.find((e) => e.state === "received");
  });
}

/** The refusal of `taskId`'s Dispatch at `tre`. */
function refusalOf(taskId: string, tre: string) {
  return waitFor(`TRE ${tre} to refuse task ${taskId}'s Dispatch`, () =>
    refused.find((r) => r.tre === tre && r.subject === subjects.dispatch(tre, taskId)),
  );
}

beforeAll(async () => {
  fed = await startFederation({
    tres: ["a", "b"],
    researchers: ["alice"],
    mode: "operator",
    onLeafEvent: (tre, e) => {
      if (e.type === "agent" && e.event.type === "refused") refused.push({ tre, ...e.event });
    },
  });
  adminDir = fed.files.adminDir!;
  oldKey = fed.files.hubPublicKey;
  await approveProject(fed, { project: "diabetes", tres: ["a", "b"], members: ["alice"] });
  const made = await tremesh("keygen", "--out", join(adminDir, "hub", "secrets", NEW_SEED));
  newKey = made.out[0]!;
}, 120_000);

afterAll(async () => {
  await fed?.[Symbol.asyncDispose]();
});

describe("changing the hub's signing key", () => {
  it("takes both keys' Dispatches where both are pinned (the old key's queued while the leaf was offline); refuses the new key's where only the old is, ending that TRE's part", async () => {
    const begun = await admin("rotate-hub-key", "--seed-file", join(adminDir, "hub", "secrets", NEW_SEED));
    expect(begun.code).toBe(ExitCode.ok);
    expect(begun.out.join("\n")).toContain(`add  nextPublicKey: ${newKey}  and restart the leaf`);
    expect((await federationJson()).hub).toMatchObject({ signingKey: oldKey, nextSigningKey: newKey });

    // TRE b's operator pins the next key; TRE a's has not yet.
    await pinHubKeys("b", { publicKey: oldKey, nextPublicKey: newKey });
    await fed.stopLeaf("b");
    const queuedUnderOld = await submit("a,b");
    await receivedAt(queuedUnderOld, "a");

    // The hub switches to the new key while b is offline; the old key's Dispatch still waits for b.
    const hubYaml = fed.files.hubConfig;
    const hub = parse(await readFile(hubYaml, "utf8")) as Record<string, unknown>;
    await writeFile(hubYaml, stringify({ ...hub, signingKeyFile: `./secrets/${NEW_SEED}` }));
    await fed.restartHub();
    await fed.startLeaf("b");
    const old = await receivedAt(queuedUnderOld, "b");
    expect(old.reason).toBe("dispatch verified against the pinned hub key");

    const signedByNew = await submit("a,b");
    await receivedAt(signedByNew, "b");
    const atA = await refusalOf(signedByNew, "a");
    expect(atA.code).toBe("unknown_signer");
    expect(atA.reason).toBe(
      `signer ${newKey.slice(0, 8)}… is not trusted: not the hub key leaf.yaml pins (hub.publicKey ${oldKey.slice(0, 8)}…); ` +
        "if the federation is changing or changed its hub key, pin the new one as hub.nextPublicKey and restart the leaf",
    );
    // a ends its part of the task, saying why, rather than leaving it queued (leaf/hub-key-refusal.ts).
    await childReaches(fed, signedByNew, "a", "rejected");
    const atHub = (await taskView(fed, signedByNew)).children.find((c) => c.tre === "a");
    expect(atHub?.history.at(-1)?.reason).toContain(
      `signed by hub key ${newKey.slice(0, 8)}…, but the TRE's leaf.yaml pins hub.publicKey ${oldKey.slice(0, 8)}…;`,
    );

    // The change ends: the new key is the hub's, and b pins it alone.
    const finished = await admin("rotate-hub-key", "--finish");
    expect(finished.code).toBe(ExitCode.ok);
    expect(finished.out[0]).toBe(
      `hub key is now ${newKey} (was ${oldKey}); new add-tre bundles pin it alone`,
    );
    const after = (await federationJson()).hub;
    expect([after.signingKey, after.nextSigningKey]).toEqual([newKey, undefined]);
    await pinHubKeys("b", { publicKey: newKey });
    await restartLeaf("b");
    await receivedAt(await submit("b"), "b");
    const again = await admin("rotate-hub-key", "--finish");
    expect(again.code).toBe(ExitCode.failed);
    expect(again.err.join(" ")).toContain("no change of the hub's key is under way");
    // The old key's seed has been on the hub's nodes: neither the hub nor a party takes it again.
    const back = await admin("rotate-hub-key", "--seed-file", join(adminDir, "hub", "secrets", "hub.seed"));
    const asResearcher = await admin("add-researcher", "carol", "--signing-key", oldKey);
    for (const r of [back, asResearcher]) {
      expect(r.code).toBe(ExitCode.badInput);
      expect(r.err.join(" ")).toContain("already registered (to the hub, which signed with it before)");
    }
  });

  it("refuses at a leaf pinning both keys a Dispatch signed by neither, naming both", async () => {
    await pinHubKeys("a", { publicKey: oldKey, nextPublicKey: newKey });
    await restartLeaf("a");
    const other = signingKeyFromSeed(generateKeyPair("user").seed);
    const taskId = await queueSignedBy(fed.hub.services.js, "a", other);
    const r = await refusalOf(taskId, "a");
    expect(r.code).toBe("unknown_signer");
    expect(r.reason).toBe(
      `signer ${other.publicKey.slice(0, 8)}… is not trusted: not either hub key leaf.yaml pins ` +
        `(hub.publicKey ${oldKey.slice(0, 8)}…, hub.nextPublicKey ${newKey.slice(0, 8)}…); ` +
        "if the federation is changing or changed its hub key, pin the new one as hub.nextPublicKey and restart the leaf",
    );
  });

  it("refuses a bad seed, a key in use and a second change, changing nothing; bundles meanwhile pin both keys", async () => {
    const seeds = join(fed.files.dir, "seeds");
    await mkdir(seeds, { recursive: true, mode: 0o700 });
    const seedFile = async (name: string, seed: string, mode = 0o600) => {
      const file = join(seeds, name);
      await writeFile(file, `${seed}\n`, { mode });
      await chmod(file, mode);
      return file;
    };
    const before = await readFile(join(adminDir, "federation.json"), "utf8");
    const { signingKey: current } = (await federationJson()).hub;
    const currentSeed = join(adminDir, "hub", "secrets", current === newKey ? NEW_SEED : "hub.seed");
    const alice = parse(await readFile(fed.files.profiles.alice!, "utf8")) as { signingKeyFile: string };
    const refusals: [string[], number, string][] = [
      [[], ExitCode.usage, "give --seed-file FILE"],
      [["--seed-file", currentSeed, "--finish"], ExitCode.usage, "give --seed-file FILE"],
      [
        ["--seed-file", await seedFile("open.seed", generateKeyPair("user").seed, 0o644)],
        ExitCode.badInput,
        "open.seed: can be read by other users (mode 644); chmod 600 it",
      ],
      [
        ["--seed-file", await seedFile("account.seed", generateKeyPair("account").seed)],
        ExitCode.badInput,
        "holds an account or operator seed, not a user one",
      ],
      [
        ["--seed-file", await seedFile("junk.seed", "not a seed")],
        ExitCode.badInput,
        "not a valid nkey seed",
      ],
      [["--seed-file", join(seeds, "missing.seed")], ExitCode.badInput, "missing.seed: cannot read"],
      [["--seed-file", currentSeed], ExitCode.failed, `holds the hub's current key ${current}`],
      [
        ["--seed-file", join(fed.files.dir, alice.signingKeyFile)],
        ExitCode.badInput,
        "already registered (to alice)",
      ],
    ];
    for (const [flags, code, message] of refusals) {
      const r = await admin("rotate-hub-key", ...flags);
      expect({ flags, code: r.code, err: r.err }).toMatchObject({ flags, code });
      expect(r.err.join(" ")).toContain(message);
    }
    expect(await readFile(join(adminDir, "federation.json"), "utf8")).toBe(before);

    const next = generateKeyPair("user");
    const nextSeed = await seedFile("next.seed", next.seed);
    expect((await admin("rotate-hub-key", "--seed-file", nextSeed)).code).toBe(ExitCode.ok);
    const again = await admin("rotate-hub-key", "--seed-file", nextSeed);
    expect(again.out[0]).toBe(`hub key change under way already: from ${current} to ${next.publicKey}`);
    const other = await admin(
      "rotate-hub-key",
      "--seed-file",
      await seedFile("other.seed", generateKeyPair("user").seed),
    );
    expect(other.code).toBe(ExitCode.failed);
    expect(other.err.join(" ")).toContain(`a change of the hub's key to ${next.publicKey} is under way`);
    const asResearcher = await admin("add-researcher", "bob", "--signing-key", next.publicKey);
    expect(asResearcher.err.join(" ")).toContain("already registered (to the hub)");

    const [treKey] = (await tremesh("leaf", "keygen", "--out", join(seeds, "tre-c.seed"))).out;
    expect((await admin("add-tre", "c", "--signing-key", treKey!)).code).toBe(ExitCode.ok);
    const bundle = parse(await readFile(join(adminDir, "tres", "c", "leaf.yaml"), "utf8")) as {
      hub: Record<string, unknown>;
    };
    expect(bundle.hub).toMatchObject({ publicKey: current, nextPublicKey: next.publicKey });
    const list = await admin("list");
    expect(list.out).toContain(
      `hub key   ${current} (changing to ${next.publicKey}: rotate-hub-key --finish ends it)`,
    );
  });
});
