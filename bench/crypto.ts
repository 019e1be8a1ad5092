/**
 * Signing and verifying cost per message: node:crypto Ed25519 (what tremesh uses) against the
 * @nats-io/nkeys library's own sign/verify, on the same signing inputs, plus whole-envelope
 * seal and open (encode + sign, decode + verify + validate). The end-to-end benchmark (e2e.ts) multiplies
 * the envelope costs by the envelopes one task needs (`envelopesPerTask`) to cross-check its profiled share.
 *
 *   npm run bench -- crypto
 */
import { fromSeed } from "@nats-io/nkeys";
import { signingInput } from "../protocol/envelope.js";
import {
  generateKeyPair,
  newId,
  openEnvelope,
  pack,
  sealEnvelope,
  signingKeyFromSeed,
  TrustStore,
} from "../protocol/index.js";
import { verifyingKey, verifySignature } from "../protocol/keys.js";
import { formatRate, machine, type Rate, rate } from "./measure.js";

/** 64 distinct status messages (so no cache flatters either side), a key to sign them and a trust store to open them. */
function statusInputs() {
  const { seed, publicKey } = generateKeyPair("user");
  const key = signingKeyFromSeed(seed);
  const now = Date.now();
  const body = {
    id: newId(now),
    iat: now,
    exp: now + 3600_000,
    taskId: newId(now),
    tre: "tre-a",
    state: "running" as const,
    actor: "agent",
  };
  const bodies = Array.from({ length: 64 }, (_, i) => ({ ...body, iat: now + i }));
  const trust = new TrustStore().add({ publicKey, role: "tre", name: "tre:tre-a", tre: "tre-a" });
  return { seed, publicKey, key, now, bodies, trust };
}

/** Seal and open of a status envelope, each as a rate. */
function envelopeRates(durationMs: number): { seal: Rate; open: Rate; envelopeBytes: number } {
  const { key, now, bodies, trust } = statusInputs();
  const envelopes = bodies.map((b) => sealEnvelope("status", b, key));
  return {
    seal: rate(
      "seal envelope (validate+pack+sign)",
      (i) => sealEnvelope("status", bodies[i & 63]!, key),
      durationMs,
    ),
    open: rate(
      "open envelope (unpack+verify+validate)",
      (i) => openEnvelope(envelopes[i & 63]!, { trust, expect: "status", now }),
      durationMs,
    ),
    envelopeBytes: envelopes[0]!.length,
  };
}

/** What sealing and opening one status envelope costs here, in µs. */
export function envelopeCostsUs(durationMs = 500): { sealUs: number; openUs: number } {
  const { seal, open } = envelopeRates(durationMs);
  return { sealUs: 1e6 / seal.perSecond, openUs: 1e6 / open.perSecond };
}

/**
 * Envelopes sealed (encode + sign) and opened (decode + verify + validate) for one count task to `tres` TREs with
 * auto-release, when the researcher is notified rather than polling, read from the message flow:
 *
 * | who | seals | opens |
 * |---|---|---|
 * | researcher: Submission; then `collectResults`' task and releases queries | 1 + 2 | |
 * | hub: the Submission; one Dispatch per TRE; the two queries | N | 1 + 2 |
 * | each TRE: Dispatch and the Submission inside; the claim's StatusEvent (received, accepted and running in one), the auto-release Decision, the Release (which carries the release's step) | 3N | 2N |
 * | hub status tracker: each TRE's StatusEvent and its Release | | 2N |
 * | researcher `verifyReleases`: each Release and the Decision inside | | 2N |
 *
 * Heartbeats are per interval, not per task, and are left out; so is the signature on each TRE's crate (one more
 * Ed25519 signature per TRE, not an envelope).
 */
export function envelopesPerTask(tres: number): { sealed: number; opened: number } {
  return { sealed: 3 + 4 * tres, opened: 3 + 6 * tres };
}

export function runCryptoBench(durationMs = 1000) {
  const { seed, publicKey, key, bodies } = statusInputs();
  const kp = fromSeed(new TextEncoder().encode(seed));
  const pub = verifyingKey(publicKey);
  const inputs = bodies.map((b) => signingInput(1, "status", pack(b)));
  const nodeSigs = inputs.map((m) => key.sign(m));
  const nkeySigs = inputs.map((m) => kp.sign(m));

  const envelopes = envelopeRates(durationMs);
  const results: Rate[] = [
    rate("sign   node:crypto", (i) => key.sign(inputs[i & 63]!), durationMs),
    rate("sign   @nats-io/nkeys", (i) => kp.sign(inputs[i & 63]!), durationMs),
    rate("verify node:crypto", (i) => verifySignature(pub, inputs[i & 63]!, nodeSigs[i & 63]!), durationMs),
    rate("verify @nats-io/nkeys", (i) => kp.verify(inputs[i & 63]!, nkeySigs[i & 63]!), durationMs),
    envelopes.seal,
    envelopes.open,
  ];

  const by = Object.fromEntries(results.map((r) => [r.name, r.perSecond]));
  const ratios = {
    sign: by["sign   node:crypto"]! / by["sign   @nats-io/nkeys"]!,
    verify: by["verify node:crypto"]! / by["verify @nats-io/nkeys"]!,
  };
  return { machine: machine(), envelopeBytes: envelopes.envelopeBytes, results, ratios };
}

export function printCryptoBench(r: ReturnType<typeof runCryptoBench>): void {
  console.log(
    `crypto — ${r.machine.cpu}, ${r.machine.cores} cores, node ${r.machine.node}, ${r.machine.date}`,
  );
  for (const x of r.results) console.log(formatRate(x));
  console.log(
    `node:crypto / nkeys: sign ×${r.ratios.sign.toFixed(1)}, verify ×${r.ratios.verify.toFixed(1)}`,
  );
  console.log(`status envelope size: ${r.envelopeBytes} bytes`);
}
