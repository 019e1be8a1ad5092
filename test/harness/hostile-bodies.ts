/**
 * Message bodies valid field by field, for the hostile-input suite (test/hostile-input.test.ts) and the deep fuzz
 * run (bench/fuzz.ts) to make hostile: each party's messages about a project `study` and a count at TRE `a`,
 * with ids and times from a seeded PRNG so every case reproduces.
 */
import type { AnalysisSpec } from "../../protocol/index.js";
import { type Rand, seededId } from "./hostile.js";

const DAY = 86_400_000;

/** The analysis every body names: a count by sex of the `patients` dataset. */
export const HOSTILE_COUNT: AnalysisSpec = { kind: "count", dataset: "patients", groupBy: ["sex"] };

export const times = (rand: Rand) => {
  const iat = Date.now() - Math.floor(rand() * 1000);
  return { iat, exp: iat + DAY };
};

export function submissionBody(rand: Rand, id = seededId(rand), tres = ["a"]) {
  return { id, ...times(rand), project: "study", tres, analysis: HOSTILE_COUNT };
}

/** A Dispatch of the researcher's `submission` envelope (see `submissionBody`). */
export function dispatchBodyOf(rand: Rand, taskId: string, tre: string, submission: Uint8Array) {
  return { id: seededId(rand), ...times(rand), taskId, tre, submission };
}

export function cancelBody(rand: Rand, taskId: string, tre = "a", reason = "x") {
  return { id: seededId(rand), ...times(rand), taskId, tre, reason };
}

export function statusBody(
  rand: Rand,
  taskId: string,
  tre = "a",
  state: "received" | "released" = "received",
) {
  return { id: seededId(rand), ...times(rand), taskId, tre, state, actor: "agent" };
}

export function releaseBody(rand: Rand, taskId: string, tre = "a") {
  return { id: seededId(rand), ...times(rand), taskId, tre, decisions: [], outputs: [], withheld: [] };
}

/** A heartbeat lives three of its TRE's intervals, as a leaf's do (30 s by default); the hub refuses one of over 3 h. */
export function heartbeatBody(rand: Rand, tre = "a") {
  const { iat } = times(rand);
  return { id: seededId(rand), iat, exp: iat + 30_000, tre, seq: 1, agentVersion: "hostile", running: 0 };
}

/** A researcher's request lives a minute, as the CLI's do: the hub refuses one valid for longer than 10 minutes. */
const requestTimes = (rand: Rand) => {
  const { iat } = times(rand);
  return { iat, exp: iat + 60_000 };
};

export function cancelRequestBody(rand: Rand, taskId: string) {
  return { id: seededId(rand), ...requestTimes(rand), taskId };
}

/** A researcher's query: the list of TREs, or with `taskId` that task. */
export function queryBody(rand: Rand, taskId?: string) {
  return taskId
    ? { id: seededId(rand), ...requestTimes(rand), what: "task" as const, taskId }
    : { id: seededId(rand), ...requestTimes(rand), what: "tres" as const };
}

export function reviewQueryBody(rand: Rand, tre = "b", what: "list" | "show" = "list") {
  return { id: seededId(rand), ...times(rand), tre, what };
}

export function decisionBody(
  rand: Rand,
  taskId: string,
  tre: string,
  output: { outputId: string; digest: string },
  verdict: "approve" | "reject" = "approve",
) {
  return {
    id: seededId(rand),
    ...times(rand),
    taskId,
    tre,
    outputId: output.outputId,
    outputDigest: output.digest,
    verdict,
  };
}
