/**
 * A task's results as the researcher gets them: the task's per-TRE states from the hub, its Releases
 * verified against the TREs' keys (the profile's pinned keys first; for a TRE not pinned, the key the hub
 * reports, and the result says so), and each output name's per-TRE outputs combined. A Release that does
 * not verify is left out with its reason; an output set that cannot be combined keeps its error. Released
 * files (anything but an output description) are never combined: they come back per TRE in `files`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { SigningKey, TaskView } from "../protocol/index.js";
import { combineOutputs, outputsByName } from "./combine.js";
import { CombineError } from "./combine-error.js";
import type { CombinedResult } from "./combined-result.js";
import type { ExcludedRelease } from "./release-exclusion.js";
import { fetchReleases, fetchTask, fetchTres, type RequestOptions } from "./researcher-requests.js";
import { type VerifiedFile, type VerifiedRelease, verifyReleases } from "./verify-release.js";

export interface CombinedOutput {
  /** The output's file name (`count.json`…): outputs of one name across TREs answer the same question. */
  name: string;
  result?: CombinedResult;
  /** Why this output set could not be combined (different questions, a singular regression…). */
  error?: { code: string; message: string };
}

/** One TRE's released file. */
export interface TreFile extends VerifiedFile {
  tre: string;
}

export interface TaskResults {
  task: TaskView;
  accepted: VerifiedRelease[];
  excluded: ExcludedRelease[];
  /** TREs whose Release was verified with a key the hub reported, not one pinned in the profile. */
  keysFromHub: string[];
  combined: CombinedOutput[];
  /** Every accepted Release's files, TRE by TRE in the order of `accepted`. */
  files: TreFile[];
}

/** Fetches, verifies and combines a task's released results. */
export async function collectResults(
  nc: NatsConnection,
  key: SigningKey,
  taskId: string,
  pinned: Readonly<Record<string, string>>,
  opts: RequestOptions = {},
): Promise<TaskResults> {
  // Two questions, neither waiting for the other; the task's answer speaks first when both fail.
  const [asked, released] = await Promise.allSettled([
    fetchTask(nc, key, taskId, opts),
    fetchReleases(nc, key, taskId, opts),
  ]);
  if (asked.status === "rejected") throw asked.reason;
  if (released.status === "rejected") throw released.reason;
  const task = asked.value;
  const items = released.value;
  const keys = new Map(Object.entries(pinned));
  const keysFromHub: string[] = [];
  if (items.some((i) => !keys.has(i.tre))) {
    for (const t of await fetchTres(nc, key, opts)) {
      if (!keys.has(t.tre) && t.publicKey && items.some((i) => i.tre === t.tre)) {
        keys.set(t.tre, t.publicKey);
        keysFromHub.push(t.tre);
      }
    }
  }
  const { accepted, excluded } = verifyReleases(taskId, items, keys);
  const combined: CombinedOutput[] = [];
  for (const [name, parts] of outputsByName(accepted)) {
    try {
      combined.push({ name, result: combineOutputs(parts) });
    } catch (e) {
      if (!(e instanceof CombineError)) throw e;
      combined.push({ name, error: { code: e.code, message: e.message } });
    }
  }
  const files = accepted.flatMap((r) => r.files.map((f): TreFile => ({ tre: r.tre, ...f })));
  return { task, accepted, excluded, keysFromHub, combined, files };
}
