/** Keys, trust and bodies shared by the protocol tests. Not part of the public surface. */
import { newId } from "./ids.js";
import { generateKeyPair, type SigningKey, signingKeyFromSeed } from "./keys.js";
import type { BodyByType } from "./messages.js";
import { TrustStore } from "./trust.js";

export function key(): SigningKey {
  return signingKeyFromSeed(generateKeyPair("user").seed);
}

export function parties() {
  const hub = key();
  const treA = key();
  const treB = key();
  const reviewerA = key();
  const researcher = key();
  const trust = new TrustStore()
    .add({ publicKey: hub.publicKey, role: "hub", name: "hub" })
    .add({ publicKey: treA.publicKey, role: "tre", name: "tre:a", tre: "a" })
    .add({ publicKey: treB.publicKey, role: "tre", name: "tre:b", tre: "b" })
    .add({ publicKey: reviewerA.publicKey, role: "reviewer", name: "rev:a", tre: "a" })
    .add({ publicKey: researcher.publicKey, role: "researcher", name: "alice" });
  return { hub, treA, treB, reviewerA, researcher, trust };
}

export function times(now = Date.now(), lifetimeMs = 3600_000) {
  return { iat: now, exp: now + lifetimeMs };
}

export function submissionBody(now = Date.now()): BodyByType["submission"] {
  return {
    id: newId(now),
    ...times(now),
    project: "diabetes-2026",
    tres: ["a", "b"],
    analysis: {
      kind: "count",
      dataset: "patients",
      filters: [{ column: "age", op: "ge", value: 40 }],
      groupBy: ["region"],
    },
  };
}

export function statusBody(tre = "a", now = Date.now()): BodyByType["status"] {
  return { id: newId(now), ...times(now), taskId: newId(now), tre, state: "running", actor: "agent" };
}
