/**
 * A leaf's dataDir belongs to one TRE: its audit chain, airlock, task records and dead letters. A TRE onboarded
 * again under a new name (docs/operations.md, rotating a TRE's key) starts with a new dataDir, and the old one
 * stays as the record of the old name. Started on the old one, the leaf would fail deep inside with the audit
 * stream's complaint; this check says it first, naming leaf.yaml's `dataDir` and what to do.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { ConfigFileError } from "../common/index.js";
import { streams, subjects } from "../protocol/index.js";

/** Throws a ConfigFileError when the controlled account's AUDIT stream is another TRE's chain. */
export async function checkDataDirOwner(
  ctrlJsm: JetStreamManager,
  config: { file: string; tre: string; dataDir: string },
): Promise<void> {
  let held: string[];
  try {
    held = (await ctrlJsm.streams.info(streams.audit)).config.subjects ?? [];
  } catch (error) {
    // A new dataDir: nothing to compare.
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return;
    throw error;
  }
  const mine = subjects.audit(config.tre);
  if (held.length === 1 && held[0] === mine) return;
  throw new ConfigFileError(
    config.file,
    "dataDir",
    `${config.dataDir} holds another TRE's records (its audit log is ${held.join(", ")}, not ${mine}): ` +
      "a TRE onboarded under a new name needs a new, empty dataDir; keep this one, the old name's audit log and airlock",
  );
}
