/**
 * Signing and verifying cost per message: node:crypto Ed25519 (what tremesh uses) against the
 * @nats-io/nkeys library's own sign/verify, on the same signing inputs, plus whole-envelope
 * seal and open (encode + sign, decode + verify + validate).
 *
 *   npm run bench -- crypto
 */
import { fromSeed } from "@nats-io/nkeys";
import {
  generateKeyPair,
  newId,
  openEnvelope,
  pack,
  sealEnvelope,
  signingInput,
  signingKeyFromSeed,
  TrustStore,
  verifyingKey,
  verifySignature,
} from "../protocol/index.js";
import { formatRate, machine, type Rate, rate } from "./measure.js";

export function runCryptoBench(durationMs = 1000) {
  const { seed, publicKey } = generateKeyPair("user");
  const key = signingKeyFromSeed(seed);
  const kp = fromSeed(new TextEncoder().encode(seed));
  const pub = verifyingKey(publicKey);

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
  // 64 distinct messages so no cache flatters either side.
  const inputs = Array.from({ length: 64 }, (_, i) =>
    signingInput(1, "status", pack({ ...body, iat: now + i })),
  );
  const nodeSigs = inputs.map((m) => key.sign(m));
  const nkeySigs = inputs.map((m) => kp.sign(m));

  const results: Rate[] = [
    rate("sign   node:crypto", (i) => key.sign(inputs[i & 63]!), durationMs),
    rate("sign   @nats-io/nkeys", (i) => kp.sign(inputs[i & 63]!), durationMs),
    rate("verify node:crypto", (i) => verifySignature(pub, inputs[i & 63]!, nodeSigs[i & 63]!), durationMs),
    rate("verify @nats-io/nkeys", (i) => kp.verify(inputs[i & 63]!, nkeySigs[i & 63]!), durationMs),
  ];

  const trust = new TrustStore().add({ publicKey, role: "tre", name: "tre:tre-a", tre: "tre-a" });
  const envelopes = inputs.map((_, i) => sealEnvelope("status", { ...body, iat: now + i }, key));
  results.push(
    rate(
      "seal envelope (validate+pack+sign)",
      (i) => sealEnvelope("status", { ...body, iat: now + (i & 63) }, key),
      durationMs,
    ),
  );
  results.push(
    rate(
      "open envelope (unpack+verify+validate)",
      (i) => openEnvelope(envelopes[i & 63]!, { trust, expect: "status", now }),
      durationMs,
    ),
  );

  const by = Object.fromEntries(results.map((r) => [r.name, r.perSecond]));
  const ratios = {
    sign: by["sign   node:crypto"]! / by["sign   @nats-io/nkeys"]!,
    verify: by["verify node:crypto"]! / by["verify @nats-io/nkeys"]!,
  };
  return { machine: machine(), envelopeBytes: envelopes[0]!.length, results, ratios };
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
