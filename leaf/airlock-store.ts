/**
 * The airlock's store of outputs held inside the TRE: a KV bucket in the controlled account, never
 * reachable from the hub link. Every executor output lands here with its sha256 digest, the automated
 * disclosure checks' findings and, where one can be made, its releasable form; reviewers' signed decisions
 * are added to it; nothing here leaves the TRE except through a Release.
 *
 * Keys (one task's entries share its id):
 * - `task.<taskId>`: who asked for what, and the task's output ids; written last, so a task is listed only
 *   once all its outputs are stored;
 * - `output.<taskId>.<outputId>`: the held output's record (checks, state, decisions), updated
 *   compare-and-set so two reviewers deciding at once cannot lose a decision;
 * - `data.<taskId>.<outputId>` and `safe.<taskId>.<outputId>`: the output's bytes, and its releasable form's, when
 *   they are too large to live in the output's record (`inline`); a small output is one write, not three;
 * - `egress.<taskId>`: the TRE-signed Release once every output is decided, written once: it is what keeps a task
 *   from being released twice;
 * - `sent.<taskId>`: when that Release went into OUTBOX, a few bytes: a Release with no such key is sent again after
 *   a restart, and marking it sent does not rewrite the Release.
 *
 * An ended task's keys go after the TRE's retention (task-retention.ts).
 */
import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { latestRecords, purgeKeys } from "../common/index.js";
import type { AirlockFinding, CheckOutcome, HeldOutputState, ReleaseOutcome } from "../protocol/index.js";

const AIRLOCK_BUCKET = "AIRLOCK";
/** Largest output (its bytes and releasable form together) kept in its own record: an aggregate is far smaller. */
export const INLINE_MAX_BYTES = 16 * 1024;

/** A reviewer's signed decision on one output, with the envelope kept verbatim for the Release. */
export interface HeldDecision {
  reviewer: string;
  publicKey: string;
  verdict: "approve" | "reject";
  digest: string;
  reason?: string;
  at: number;
  /** The Decision envelope, base64. */
  envelope: string;
}

export interface HeldOutput {
  taskId: string;
  outputId: string;
  name: string;
  mediaType: string;
  /** sha256 of the bytes, hex. */
  digest: string;
  size: number;
  createdAt: number;
  outcome: CheckOutcome;
  findings: AirlockFinding[];
  /** sha256 of the releasable form; absent when the checks could not make one. */
  releasableDigest?: string;
  state: HeldOutputState;
  /** Once released: the digest of the bytes that were released (the output's or its releasable form's). */
  releasedDigest?: string;
  decidedAt?: number;
  decisions: HeldDecision[];
  /**
   * The output's bytes and its releasable form's, base64, when together they are at most `INLINE_MAX_BYTES`:
   * kept in this record, written with it. Larger ones (and records from before) have keys of their own.
   */
  inline?: { data: string; releasable?: string };
}

export interface HeldTask {
  taskId: string;
  project: string;
  researcher: string;
  kind: string;
  title?: string;
  /** When the researcher signed the Submission (its `iat`); absent in records from before crates. */
  submittedAt?: number;
  /** The request crate's `External-Identifier`, when the task came from one. */
  externalId?: string;
  heldAt: number;
  outputIds: string[];
}

/** An output's record with its revision, for a compare-and-set `update`. */
export interface StoredOutput {
  value: HeldOutput;
  revision: number;
}

/** A task's record and its outputs' records, as stored. */
export interface HeldRecords {
  task: HeldTask;
  outputs: readonly HeldOutput[];
  /**
   * As `hold` wrote them: each output record's revision, by output id (a starting point for a compare-and-set),
   * and each output's bytes and releasable form, so that a Release made at once does not read them back.
   */
  written?: {
    revisions: Readonly<Record<string, number>>;
    bytes: Readonly<Record<string, { data: Uint8Array; releasable?: Uint8Array }>>;
  };
}

/** How a task leaves the airlock: the child life cycle's release outcomes. */
export type EgressOutcome = ReleaseOutcome;

export interface EgressRecord {
  taskId: string;
  outcome: EgressOutcome;
  reason: string;
  /** When the Release was signed: the time of the step to `outcome` it carries (absent in records from before). */
  at?: number;
  /** The TRE-signed Release, base64. */
  envelope: string;
  /** Only in records from before `sent.<taskId>`: "sent" once the Release was in OUTBOX. */
  state?: "built" | "sent";
}

/** One output as the agent hands it over: bytes, checks, and its releasable form if any. */
export interface NewHeldOutput {
  outputId: string;
  name: string;
  mediaType: string;
  bytes: Uint8Array;
  outcome: CheckOutcome;
  findings: AirlockFinding[];
  releasable?: Uint8Array;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const base64 = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64");

export class AirlockStore {
  private constructor(
    readonly kv: KV,
    private readonly js: JetStreamClient,
  ) {}

  static async open(ctrlJs: JetStreamClient): Promise<AirlockStore> {
    // One output is a small aggregate; the bucket keeps only the latest revision of each entry.
    return new AirlockStore(await new Kvm(ctrlJs).create(AIRLOCK_BUCKET, { history: 1 }), ctrlJs);
  }

  /**
   * Holds every output of a task, the task record last: the outputs' bytes and records are written at once, and the
   * task is listed (and reviewable) only once all of them are stored. `settle` may change an output's record before
   * it is first written (a decision the TRE takes at once, by its policy). `alongside` runs while the task record is
   * written, the outputs stored already (the airlock's audit records of them). Returns the records stored, outputs in
   * order.
   */
  async hold(
    task: Omit<HeldTask, "outputIds">,
    outputs: readonly NewHeldOutput[],
    settle: (output: HeldOutput) => HeldOutput = (o) => o,
    alongside: (held: readonly HeldOutput[]) => Promise<unknown> = async () => {},
  ): Promise<HeldRecords> {
    const held: HeldOutput[] = [];
    const writes: Promise<unknown>[] = [];
    const revisions: Record<string, number> = {};
    const bytes: Record<string, { data: Uint8Array; releasable?: Uint8Array }> = {};
    for (const o of outputs) {
      const inline = o.bytes.length + (o.releasable?.length ?? 0) <= INLINE_MAX_BYTES;
      const entry = settle({
        taskId: task.taskId,
        outputId: o.outputId,
        name: o.name,
        mediaType: o.mediaType,
        digest: sha256Hex(o.bytes),
        size: o.bytes.length,
        createdAt: task.heldAt,
        outcome: o.outcome,
        findings: o.findings,
        ...(o.releasable ? { releasableDigest: sha256Hex(o.releasable) } : {}),
        state: "pending",
        decisions: [],
        ...(inline
          ? {
              inline: {
                data: base64(o.bytes),
                ...(o.releasable ? { releasable: base64(o.releasable) } : {}),
              },
            }
          : {}),
      });
      if (!inline) {
        writes.push(this.kv.put(`data.${task.taskId}.${o.outputId}`, o.bytes));
        if (o.releasable) writes.push(this.kv.put(`safe.${task.taskId}.${o.outputId}`, o.releasable));
      }
      writes.push(
        this.kv.put(`output.${task.taskId}.${o.outputId}`, JSON.stringify(entry)).then((revision) => {
          revisions[o.outputId] = revision;
        }),
      );
      held.push(entry);
      bytes[o.outputId] = { data: o.bytes, ...(o.releasable ? { releasable: o.releasable } : {}) };
    }
    await Promise.all(writes);
    const record: HeldTask = { ...task, outputIds: held.map((o) => o.outputId) };
    await Promise.all([this.kv.put(`task.${task.taskId}`, JSON.stringify(record)), alongside(held)]);
    return { task: record, outputs: held, written: { revisions, bytes } };
  }

  async task(taskId: string): Promise<HeldTask | undefined> {
    const e = await this.kv.get(`task.${taskId}`);
    return e?.operation === "PUT" ? (e.json() as HeldTask) : undefined;
  }

  /** Every task held here, oldest first, read in one pass. */
  async tasks(): Promise<HeldTask[]> {
    const out = await latestRecords<HeldTask>(this.js, AIRLOCK_BUCKET, "task.*");
    return out.sort((a, b) => a.taskId.localeCompare(b.taskId));
  }

  /** A task's outputs, in the order the executor made them. */
  async outputs(task: HeldTask): Promise<HeldOutput[]> {
    const out: HeldOutput[] = [];
    for (const id of task.outputIds) {
      const o = await this.output(task.taskId, id);
      if (o) out.push(o.value);
    }
    return out;
  }

  /** One output's record and its revision, for a compare-and-set `update`. */
  async output(taskId: string, outputId: string): Promise<StoredOutput | undefined> {
    const e = await this.kv.get(`output.${taskId}.${outputId}`);
    return e?.operation === "PUT" ? { value: e.json() as HeldOutput, revision: e.revision } : undefined;
  }

  /** Replaces an output's record if it is still at `revision`; false when someone changed it meanwhile. */
  async update(output: HeldOutput, revision: number): Promise<boolean> {
    try {
      await this.kv.update(`output.${output.taskId}.${output.outputId}`, JSON.stringify(output), revision);
      return true;
    } catch {
      return false;
    }
  }

  /** An output's bytes (`which`: as the executor made them, or their releasable form), from its record when there. */
  async bytes(output: HeldOutput, which: "data" | "releasable"): Promise<Uint8Array | undefined> {
    if (output.inline) {
      const b = which === "data" ? output.inline.data : output.inline.releasable;
      return b === undefined ? undefined : new Uint8Array(Buffer.from(b, "base64"));
    }
    const e = await this.kv.get(`${which === "data" ? "data" : "safe"}.${output.taskId}.${output.outputId}`);
    return e?.operation === "PUT" ? e.value : undefined;
  }

  async data(taskId: string, outputId: string): Promise<Uint8Array | undefined> {
    const o = await this.output(taskId, outputId);
    return o && this.bytes(o.value, "data");
  }

  async releasable(taskId: string, outputId: string): Promise<Uint8Array | undefined> {
    const o = await this.output(taskId, outputId);
    return o && this.bytes(o.value, "releasable");
  }

  async egress(taskId: string): Promise<EgressRecord | undefined> {
    const e = await this.kv.get(`egress.${taskId}`);
    return e?.operation === "PUT" ? (e.json() as EgressRecord) : undefined;
  }

  /** Stores the task's Release once; a second call returns the first one, so a task is released at most once. */
  async createEgress(record: EgressRecord): Promise<EgressRecord> {
    try {
      await this.kv.create(`egress.${record.taskId}`, JSON.stringify(record));
      return record;
    } catch {
      const existing = await this.egress(record.taskId);
      if (!existing) throw new Error(`could not store the Release of task ${record.taskId}`);
      return existing;
    }
  }

  /** Marks the task's Release as in OUTBOX, with the time: a small key of its own, the Release is not written again. */
  async markSent(taskId: string, at = Date.now()): Promise<void> {
    await this.kv.put(`sent.${taskId}`, String(at));
  }

  /** Whether the task's Release is marked as in OUTBOX. */
  async sent(taskId: string): Promise<boolean> {
    if (await this.#marked(taskId)) return true;
    return (await this.egress(taskId))?.state === "sent";
  }

  /** Whether the task has no Release here, or has one in OUTBOX: what retention asks before forgetting the task. */
  async sentOrNone(taskId: string): Promise<boolean> {
    // Both read at once, the Release once: a record from before the marks says in itself whether it was sent.
    const [marked, egress] = await Promise.all([this.#marked(taskId), this.egress(taskId)]);
    return marked || egress === undefined || egress.state === "sent";
  }

  async #marked(taskId: string): Promise<boolean> {
    return (await this.kv.get(`sent.${taskId}`))?.operation === "PUT";
  }

  /**
   * Removes every key of the task (its record, outputs, bytes, Release and sent mark) from the bucket's stream, leaving
   * no delete markers behind: for an ended task past its retention (task-retention.ts).
   */
  async forget(taskId: string): Promise<void> {
    // `task.<id>`, `egress.<id>`, `sent.<id>`; then `output.<id>.<outputId>` and the outputs' bytes.
    await purgeKeys(this.js, AIRLOCK_BUCKET, [`*.${taskId}`, `*.${taskId}.>`]);
  }

  /**
   * Removes every output an interrupted run of the task left (bytes, releasable forms, records, the task record),
   * so the next run starts with nothing held. Returns how many outputs went. The caller makes sure nothing of the
   * task was released (`egress` is absent).
   */
  async discard(taskId: string): Promise<number> {
    let outputs = 0;
    const keys: string[] = [];
    for await (const key of await this.kv.keys([
      `data.${taskId}.*`,
      `safe.${taskId}.*`,
      `output.${taskId}.*`,
    ]))
      keys.push(key);
    for (const key of keys) {
      if (key.startsWith("output.")) outputs++;
      await this.kv.purge(key);
    }
    await this.kv.purge(`task.${taskId}`);
    return outputs;
  }

  /**
   * Releases built but not yet in OUTBOX (after a crash). It lists the keys only, and reads just the Releases with
   * no sent mark. A record from before the marks that says it was sent gets one, so it is not read again.
   */
  async unsent(): Promise<EgressRecord[]> {
    const built: string[] = [];
    const sent = new Set<string>();
    for await (const key of await this.kv.keys(["egress.*", "sent.*"])) {
      if (key.startsWith("sent.")) sent.add(key.slice("sent.".length));
      else built.push(key.slice("egress.".length));
    }
    const out: EgressRecord[] = [];
    for (const taskId of built) {
      if (sent.has(taskId)) continue;
      const r = await this.egress(taskId);
      if (r?.state === "sent") await this.markSent(taskId);
      else if (r) out.push(r);
    }
    return out;
  }
}
