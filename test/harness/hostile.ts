/**
 * Tools for the hostile-input suite (test/hostile-input.test.ts): envelope forgeries that `sealEnvelope` would
 * refuse to make, byte mutations of valid envelopes (drawn from a seeded PRNG such as executors' `mulberry32`, so
 * every fuzz case can be reproduced), a reader of dead-letter streams that finds the record of one refused
 * message, the per-category tally (tried, refused, by design, crashed) the suite prints, and the senders that turn
 * what each service did with a hostile message into an outcome: refused (with the code it gave), accepted, or
 * crashed.
 */
import { createHash } from "node:crypto";
import { type JetStreamManager, jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import { DEAD_LETTER_HEAD_BYTES } from "../../common/dead-letter.js";
import { waitFor } from "../../common/index.js";
import { signingInput } from "../../protocol/envelope.js";
import {
  airlockReply,
  apiReply,
  type MessageType,
  openEnvelope,
  pack,
  type SigningKey,
  sealEnvelope,
  subjects,
  submitReply,
  TrustStore,
  unpack,
} from "../../protocol/index.js";

/** A seeded PRNG's next number in [0, 1). */
export type Rand = () => number;

export const pick = <T>(rand: Rand, items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

export function randomBytesFrom(rand: Rand, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A ULID from the PRNG (time part `now`), so fuzzed task ids and subjects reproduce too. */
export function seededId(rand: Rand, now = Date.now()): string {
  let time = "";
  for (let t = now, i = 0; i < 10; i++, t = Math.floor(t / 32)) time = CROCKFORD[t % 32] + time;
  let tail = "";
  for (let i = 0; i < 16; i++) tail += pick(rand, [...CROCKFORD]);
  return time + tail;
}

/**
 * An envelope signed by `key` whatever its body: what a hostile party with a real key can send, bypassing the
 * schema check `sealEnvelope` makes before signing.
 */
export function signRaw(type: string, body: unknown, key: SigningKey, version = 1): Uint8Array {
  const bodyBytes = pack(body);
  return pack([version, type, key.publicKey, bodyBytes, key.sign(signingInput(version, type, bodyBytes))]);
}

/** An envelope's five fields, as they travel. */
type EnvelopeFields = [
  version: number,
  type: string,
  signer: string,
  body: Uint8Array,
  signature: Uint8Array,
];

const envelopeFields = (envelope: Uint8Array) => unpack(envelope) as EnvelopeFields;

/**
 * `envelope` with its type or signer field replaced and its signature kept: a signed query relabelled as a
 * submission, a signer field that is no key.
 */
export function withFields(envelope: Uint8Array, change: { type?: string; signer?: string }): Uint8Array {
  const [version, type, signer, body, signature] = envelopeFields(envelope);
  return pack([version, change.type ?? type, change.signer ?? signer, body, signature]);
}

/** `envelope` signed again by `key`, its signer field still naming the party that signed it first. */
export function resignedBy(envelope: Uint8Array, key: SigningKey): Uint8Array {
  const [version, type, signer, body] = envelopeFields(envelope);
  return pack([version, type, signer, body, key.sign(signingInput(version, type, body))]);
}

/**
 * The same envelope in another msgpack byte form (wider headers for every field): it decodes to the same values,
 * so its signature still verifies. A replay in disguise, for receivers that deduplicate on bytes.
 */
export function reencode(envelope: Uint8Array): Uint8Array {
  const [version, type, signer, body, signature] = envelopeFields(envelope);
  const u32 = (n: number) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
  const str8 = (s: string) => {
    const b = Buffer.from(s, "utf8");
    return [0xd9, b.length, ...b];
  };
  const bin32 = (b: Uint8Array) => [0xc6, ...u32(b.length), ...b];
  return Uint8Array.from([
    0xdc,
    0x00,
    0x05, // array16 of 5
    0xcd,
    (version >>> 8) & 255,
    version & 255, // uint16
    ...str8(type),
    ...str8(signer),
    ...bin32(body),
    ...bin32(signature),
  ]);
}

/** Values of the wrong kind for any field. */
export function junkValues(rand: Rand): unknown[] {
  return [
    null,
    -1,
    2 ** 53,
    1.5,
    Number.NaN,
    true,
    "",
    "x".repeat(300),
    "../../etc/passwd",
    "\u0000",
    {},
    [],
    [1, 2, 3],
    { __proto__: { id: "x" } },
    { constructor: { prototype: { polluted: true } } },
    randomBytesFrom(rand, 8),
    "'; DROP TABLE patients; --",
  ];
}

/** Well-formed msgpack that is no envelope at all. */
function wrongShape(rand: Rand): Uint8Array {
  return pack(
    pick(rand, [
      null,
      42,
      "submission",
      {},
      { type: "submission", body: {} },
      [],
      [1, "submission"],
      [1, "submission", "U".repeat(56), new Uint8Array(3), new Uint8Array(64), "extra"],
      [1, 2, 3, 4, 5],
      ["1", "submission", "U".repeat(56), new Uint8Array(3), new Uint8Array(64)],
      [1, "submission", "U".repeat(56), "not bytes", new Uint8Array(64)],
      [1, "submission", "U".repeat(56), new Uint8Array(3), new Uint8Array(63)],
      [1, "x".repeat(33), "U".repeat(56), new Uint8Array(3), new Uint8Array(64)],
      [2 ** 40, "submission", "U".repeat(56), new Uint8Array(3), new Uint8Array(64)],
    ]),
  );
}

/**
 * A JetStream API request body that no server should act on for `stream`: not JSON, the wrong shape, bad values, or a push consumer delivering into the stream's own `capturedSubject` (a loop).
 */
export function junkApiRequest(rand: Rand, stream: string, capturedSubject: string): Uint8Array | string {
  return pick(rand, [
    () => randomBytesFrom(rand, Math.floor(rand() * 200)),
    () => "{",
    () => `{"stream_name":"${stream}","config":`,
    () => "null",
    () => "[]",
    () => "x".repeat(5_000),
    () => JSON.stringify({ stream_name: 42 }),
    () => JSON.stringify({ stream_name: stream, config: { ack_policy: "bogus" } }),
    () => JSON.stringify({ stream_name: stream, config: { ack_policy: "none", deliver_policy: "sideways" } }),
    () => JSON.stringify({ stream_name: stream, config: { ack_policy: "none", deliver_subject: "a.*.>" } }),
    () =>
      JSON.stringify({
        stream_name: stream,
        config: { ack_policy: "none", deliver_subject: capturedSubject },
      }),
    () => JSON.stringify({ stream_name: stream, config: { ack_policy: "none", durable_name: "a.b" } }),
  ])();
}

export interface FuzzSource {
  /** Valid envelopes for the subject, signed by the party that may send them: what mutations start from. */
  seeds: () => Uint8Array[];
  /**
   * A valid body of the subject's type and its signer: re-signed with hostile field values, so only the schema
   * (or the receiver's own checks) stands in the way.
   */
  body: () => { type: string; body: Record<string, unknown>; key: SigningKey };
  /** Correctly signed envelopes of types that do not belong on this subject. */
  wrongTypes: () => Uint8Array[];
  /**
   * True for a message the receiver must accept as its sender's word (a schema-valid body signed by the right
   * key, such as a title that merely looks hostile): not a hostile case, so it is drawn again.
   */
  legit?: (bytes: Uint8Array) => boolean;
}

/** A trust store of the given principals, each named for its role. */
export function trustOf(
  ...principals: { key: SigningKey; role: "hub" | "tre" | "reviewer" | "researcher"; tre?: string }[]
): TrustStore {
  const trust = new TrustStore();
  for (const p of principals)
    trust.add({ publicKey: p.key.publicKey, role: p.role, name: p.role, ...(p.tre ? { tre: p.tre } : {}) });
  return trust;
}

/** True for bytes a receiver that trusts `trust` opens as a valid `expect` (at TRE `tre`, when given). */
export const opensAs =
  (trust: TrustStore, expect: MessageType, tre?: string) =>
  (bytes: Uint8Array): boolean =>
    openEnvelope(bytes, { trust, expect, ...(tre ? { tre } : {}) }).ok;

/**
 * A fuzz source for messages of `type` signed by `key`: its seeds are `body()` sealed, and `legit`, when given,
 * tells the sender's own word from a hostile message.
 */
export function fuzzSource(
  type: MessageType,
  key: SigningKey,
  body: () => Record<string, unknown>,
  wrongTypes: () => Uint8Array[],
  legit?: (bytes: Uint8Array) => boolean,
): FuzzSource {
  return {
    seeds: () => [sealEnvelope(type, body() as never, key)],
    body: () => ({ type, body: body(), key }),
    wrongTypes,
    ...(legit ? { legit } : {}),
  };
}

/** Every envelope `make` makes but the `own`th, made afresh on each call: a subject's wrong types. */
export const allBut = (own: number, make: () => Uint8Array[]) => (): Uint8Array[] =>
  make().filter((_, i) => i !== own);

export interface FuzzCase {
  kind: string;
  bytes: Uint8Array;
}

/** One hostile byte string for a subject, never equal to a seed (a mutation that changed nothing is redrawn). */
export function fuzzCase(rand: Rand, source: FuzzSource): FuzzCase {
  for (;;) {
    const made = draw(rand, source);
    const seeds = made.from ?? [];
    if (seeds.some((s) => Buffer.from(s).equals(made.bytes))) continue;
    if (source.legit?.(made.bytes)) continue;
    return { kind: made.kind, bytes: made.bytes };
  }
}

function draw(rand: Rand, source: FuzzSource): FuzzCase & { from?: Uint8Array[] } {
  const kind = Math.floor(rand() * 9);
  if (kind === 0) return { kind: "random bytes", bytes: randomBytesFrom(rand, Math.floor(rand() * 600)) };
  if (kind === 1) return { kind: "valid msgpack, wrong shape", bytes: wrongShape(rand) };
  if (kind === 2) return { kind: "wrong type for the subject", bytes: pick(rand, source.wrongTypes()) };
  if (kind === 3 || kind === 4) {
    const { type, body, key } = source.body();
    const fields = [...Object.keys(body), "extra", "__proto__"];
    const field = pick(rand, fields);
    const value = pick(rand, junkValues(rand));
    return { kind: `signed body, ${field} hostile`, bytes: signRaw(type, { ...body, [field]: value }, key) };
  }
  if (kind === 5) {
    // Huge fields: well within max_payload, far beyond any field's limit.
    const { type, body, key } = source.body();
    const field = pick(rand, Object.keys(body));
    const huge = pick(rand, [
      "y".repeat(200_000 + Math.floor(rand() * 500_000)),
      randomBytesFrom(rand, 300_000),
      Array.from({ length: 20_000 }, (_, i) => i),
    ]);
    return { kind: `signed body, ${field} huge`, bytes: signRaw(type, { ...body, [field]: huge }, key) };
  }
  const seeds = source.seeds();
  const base = Uint8Array.from(pick(rand, seeds));
  if (kind === 6) {
    for (let i = 0, n = 1 + Math.floor(rand() * 8); i < n; i++)
      base[Math.floor(rand() * base.length)]! ^= 1 << Math.floor(rand() * 8);
    return { kind: "bit-flipped valid envelope", bytes: base, from: seeds };
  }
  if (kind === 7)
    return {
      kind: "truncated valid envelope",
      bytes: base.subarray(0, Math.floor(rand() * base.length)),
      from: seeds,
    };
  const cut = Math.floor(rand() * base.length);
  return {
    kind: "valid envelope with bytes inserted",
    bytes: Uint8Array.from([
      ...base.subarray(0, cut),
      ...randomBytesFrom(rand, 1 + Math.floor(rand() * 32)),
      ...base.subarray(cut),
    ]),
    from: seeds,
  };
}

/** One record of a DEADLETTER stream (common/dead-letter.ts), decoded. */
export interface DeadLetterRecord {
  seq: number;
  subject: string;
  stream?: string;
  code: string;
  message: string;
  field?: string;
  size: number;
  head: Uint8Array;
}

const headKey = (subject: string, data: Uint8Array) =>
  `${subject} ${createHash("sha256").update(data.subarray(0, DEAD_LETTER_HEAD_BYTES)).digest("hex")} ${data.length}`;

/**
 * Reads a DEADLETTER stream as it grows and answers "is there a record, with a reason, for this message?":
 * a record matches a message when its subject, size and kept head are the message's.
 */
export class DeadLetterLedger {
  #next = 1;
  readonly records: DeadLetterRecord[] = [];
  readonly #byKey = new Map<string, DeadLetterRecord[]>();
  readonly #taken = new Set<number>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly stream = "DEADLETTER",
  ) {}

  /** Reads every record stored since the last call. */
  async refresh(): Promise<void> {
    const { state } = await this.jsm.streams.info(this.stream);
    for (; this.#next <= state.last_seq; this.#next++) {
      const m = await this.jsm.streams.getMessage(this.stream, { seq: this.#next });
      if (!m) continue;
      const r = unpack(m.data) as Omit<DeadLetterRecord, "seq">;
      const record = { ...r, seq: m.seq };
      this.records.push(record);
      const key = `${r.subject} ${createHash("sha256").update(r.head).digest("hex")} ${r.size}`;
      this.#byKey.set(key, [...(this.#byKey.get(key) ?? []), record]);
    }
  }

  /** Waits until there is a record, not yet taken, for the message `data` published on `subject`. */
  async arrival(subject: string, data: Uint8Array): Promise<void> {
    await waitFor("the dead letter", async () => {
      await this.refresh();
      return this.available(subject, data).length > 0;
    });
  }

  /** Records for the message `data` published on `subject` not yet taken by `take`. */
  available(subject: string, data: Uint8Array): DeadLetterRecord[] {
    return (this.#byKey.get(headKey(subject, data)) ?? []).filter((r) => !this.#taken.has(r.seq));
  }

  /** The record of one message: marked as accounted for, so two identical messages need two records. */
  take(subject: string, data: Uint8Array): DeadLetterRecord | undefined {
    const record = this.available(subject, data)[0];
    if (record) this.#taken.add(record.seq);
    return record;
  }

  /** Takes a record without a message to match (a side effect the caller accounts for itself). */
  takeRecord(record: DeadLetterRecord): void {
    this.#taken.add(record.seq);
  }

  /** Records no message accounted for. */
  untaken(): DeadLetterRecord[] {
    return this.records.filter((r) => !this.#taken.has(r.seq));
  }
}

/** What a hostile case came to. `refused` needs evidence: the code and reason the system gave. */
export type Outcome = { refused: string } | { byDesign: string } | { accepted: string } | { crashed: string };

/** A check's outcome: refused (with the evidence) when `refused` holds, else accepted (with what happened). */
export const refusedIf = (condition: boolean, refused: string, accepted: string): Outcome =>
  condition ? { refused } : { accepted };

export interface CategoryTally {
  tried: number;
  refused: number;
  /**
   * Harmless by design, each with its reason (a retried submission answered "duplicate, the same task"; a message
   * id JetStream deduplicated): counted apart from refusals.
   */
  byDesign: number;
  crashed: number;
  /** Every case that was neither refused nor deduplicated, and every crash, with what happened. */
  problems: string[];
  /** Refusal codes seen, with how often: the evidence behind `refused`. */
  codes: Map<string, number>;
  /** Every case with what it came to, for TREMESH_HOSTILE_VERBOSE=1. */
  cases: [string, Outcome][];
}

/** The suite's table: per category, tried / refused / by design / crashed. */
export class Tally {
  readonly rows = new Map<string, CategoryTally>();

  row(category: string): CategoryTally {
    let r = this.rows.get(category);
    if (!r) {
      r = { tried: 0, refused: 0, byDesign: 0, crashed: 0, problems: [], codes: new Map(), cases: [] };
      this.rows.set(category, r);
    }
    return r;
  }

  /** Counts one hostile case and its outcome. */
  add(category: string, what: string, outcome: Outcome): void {
    const r = this.row(category);
    r.tried++;
    r.cases.push([what, outcome]);
    if ("refused" in outcome) {
      r.refused++;
      r.codes.set(outcome.refused, (r.codes.get(outcome.refused) ?? 0) + 1);
    } else if ("byDesign" in outcome) {
      r.byDesign++;
      r.codes.set(`by design: ${outcome.byDesign}`, (r.codes.get(`by design: ${outcome.byDesign}`) ?? 0) + 1);
    } else if ("crashed" in outcome) {
      r.crashed++;
      r.problems.push(`${what}: CRASHED: ${outcome.crashed}`);
    } else r.problems.push(`${what}: ACCEPTED: ${outcome.accepted}`);
  }

  /** A crash found by a health check after the category's cases (not tied to one case). */
  crash(category: string, what: string): void {
    const r = this.row(category);
    r.crashed++;
    r.problems.push(`CRASHED: ${what}`);
  }

  /** Per category, each refusal code (and each by-design reason) with how often it was seen. */
  codes(): string {
    return [...this.rows]
      .filter(([, r]) => r.codes.size > 0)
      .map(
        ([name, r]) =>
          `${name}: ${[...r.codes]
            .sort((x, y) => y[1] - x[1])
            .map(([code, n]) => `${code} ×${n}`)
            .join(", ")}`,
      )
      .join("\n");
  }

  /** Every case of every category with its outcome, one per line. */
  caseList(): string {
    return [...this.rows]
      .flatMap(([name, r]) =>
        r.cases.map(([what, o]) => `${name} | ${what.slice(0, 100)} | ${JSON.stringify(o)}`),
      )
      .join("\n");
  }

  table(): string {
    const header = ["category", "tried", "refused", "by design", "crashed"];
    const lines = [...this.rows].map(([name, r]) => [
      name,
      String(r.tried),
      String(r.refused),
      String(r.byDesign),
      String(r.crashed),
    ]);
    const total = [...this.rows.values()].reduce(
      (t, r) => [t[0]! + r.tried, t[1]! + r.refused, t[2]! + r.byDesign, t[3]! + r.crashed],
      [0, 0, 0, 0],
    );
    lines.push(["TOTAL", ...total.map(String)]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const fmt = (cells: string[]) =>
      cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
    return [fmt(header), widths.map((w) => "-".repeat(w)).join("  "), ...lines.map(fmt)].join("\n");
  }
}

/**
 * Publishes `size` bytes on `subject` from `nc` past the client's own max_payload check, as a client that ignores
 * the server's INFO would. Resolves with the server's refusal: the `Maximum Payload Violation` it sent the client,
 * or the line it logged (`maximum payload exceeded`) when the client saw the connection drop first; undefined
 * when neither came within `timeoutMs`.
 */
export async function publishOverMaxPayload(
  nc: NatsConnection,
  subject: string,
  size: number,
  serverLog: () => Promise<string>,
  timeoutMs = 10_000,
): Promise<string | undefined> {
  const info = (nc as unknown as { protocol: { info?: { max_payload: number } } }).protocol.info;
  if (!info) throw new Error("the connection has no server INFO yet");
  info.max_payload = 64 * 1024 * 1024;
  const logged = async () => ((await serverLog()).match(/maximum payload exceeded/g) ?? []).length;
  const before = await logged();
  let sent: string | undefined;
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") sent = s.error.message;
  })();
  nc.publish(subject, new Uint8Array(size));
  return waitFor(
    "the server's refusal",
    async () =>
      sent && /maximum payload/i.test(sent)
        ? sent
        : (await logged()) > before
          ? "maximum payload exceeded (server log)"
          : undefined,
    { timeoutMs, intervalMs: 100 },
  ).catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------------------
// Sending hostile cases, and telling a refusal from a crash
// ---------------------------------------------------------------------------------------------------------

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function inBatches<T>(
  items: readonly T[],
  size: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(run));
}

const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest("hex");

/** The request/reply services a hostile party can call: the hub's submission service, its API, a TRE's airlock. */
export type ReplyService = "submit" | "api" | "airlock";

/** The service that answers requests on `subject`, which says how to read its replies. */
export const serviceOf = (subject: string): ReplyService =>
  subject === subjects.submit
    ? "submit"
    : subject === subjects.airlockQuery || subject === subjects.airlockDecide
      ? "airlock"
      : "api";

/** A reply of the hub's or the airlock's request/reply services, as a case outcome. */
export function replyOutcome(service: ReplyService, data: Uint8Array): Outcome {
  let reply: { status: string; code?: string; message?: string };
  try {
    const value = unpack(data);
    reply =
      service === "submit"
        ? submitReply(value, "")
        : service === "api"
          ? apiReply(value, "")
          : airlockReply(value, "");
  } catch (e) {
    return { crashed: `unreadable reply: ${String(e)}` };
  }
  if (reply.status === "accepted" || reply.status === "ok")
    return {
      accepted: JSON.stringify(reply, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)).slice(
        0,
        300,
      ),
    };
  // `unavailable` is the service's own failure ("retry"), never an answer to a hostile message.
  if (reply.code === "unavailable") return { crashed: `the service failed: ${reply.message}` };
  if (!reply.code || !reply.message) return { accepted: "a refusal without a code and a reason" };
  return { refused: reply.code };
}

/** Sends one request; no answer within 10 s is a crash (a service stopped answering). */
export async function requestOutcome(
  conn: NatsConnection,
  subject: string,
  bytes: Uint8Array,
  service = serviceOf(subject),
): Promise<Outcome> {
  try {
    return replyOutcome(service, (await conn.request(subject, bytes, { timeout: 10_000 })).data);
  } catch (e) {
    return { crashed: `no answer on ${subject}: ${String(e)}` };
  }
}

/**
 * A request that should reach nothing: refused when the server has no route for it (no responders, or no answer
 * at all from a subject nothing may serve) or when JetStream answers with an API error.
 */
export async function noRouteOutcome(
  conn: NatsConnection,
  subject: string,
  payload: Uint8Array | string = "",
): Promise<Outcome> {
  try {
    const m = await conn.request(subject, payload, { timeout: 3_000 });
    // A direct get answers with a status in its headers and no body.
    const status = m.headers?.code ?? 0;
    if (status >= 400) return { refused: `status ${status} ${m.headers?.description ?? ""}`.trim() };
    const body = JSON.parse(new TextDecoder().decode(m.data)) as {
      error?: { code: number; err_code?: number };
    };
    return body.error
      ? { refused: `JetStream error ${body.error.err_code ?? body.error.code}` }
      : { accepted: `answered: ${m.string().slice(0, 400)}` };
  } catch (e) {
    const text = String(e);
    if (/no responders|503/i.test(text)) return { refused: "no route (no responders)" };
    if (/timeout/i.test(text)) return { refused: "no route (nothing answers)" };
    if (/permission/i.test(text)) return { refused: "permissions violation" };
    return { crashed: text };
  }
}

/** A login the server must refuse: refused on an authorization violation; a login it took is `accepted`. */
export async function loginOutcome(options: NodeConnectionOptions, accepted: string): Promise<Outcome> {
  return connect({ ...options, maxReconnectAttempts: 0 }).then(
    async (c): Promise<Outcome> => {
      await c.close();
      return { accepted };
    },
    (e: unknown) =>
      /authoriz/i.test(String(e)) ? { refused: "authorization violation" } : { crashed: String(e) },
  );
}

/** One message a hostile party put into a stream or onto a subject, to be found again in a dead-letter stream. */
export interface Sent {
  category: string;
  what: string;
  subject: string;
  bytes: Uint8Array;
  /** The publish itself was refused (no stream takes the subject, a permission): no dead letter to look for. */
  refusedAtPublish?: string;
  /** The publish failed for another reason (a timeout: the server did not answer). */
  failedAtPublish?: string;
  /** JetStream deduplicated it by message id: stored once, nothing more to look for. */
  duplicate?: boolean;
  /** For a task id an agent claims: its `rejected` state, with the reason, is the refusal. */
  agentTask?: string;
}

/** A JetStream publish of `s`, noting a refusal by the server or a duplicate instead of throwing. */
export async function jsPublish(conn: NatsConnection, s: Sent, msgID: string): Promise<Sent> {
  try {
    const ack = await jetstream(conn).publish(s.subject, s.bytes, { msgID, timeout: 10_000 });
    return ack.duplicate ? { ...s, duplicate: true } : s;
  } catch (e) {
    const text = String(e);
    // No stream captures the subject (JetStream's "no responders"), or the connection may not publish there.
    return /not enabled|no responders|503|permission/i.test(text)
      ? { ...s, refusedAtPublish: text }
      : { ...s, failedAtPublish: text };
  }
}

/**
 * What one party publishes in one category, kept for `settle`: JetStream publishes, each under the message id
 * `msgId` gives it unless the case names its own, and core publishes (heartbeats), which nothing acknowledges.
 */
export class Sender {
  readonly sent: Sent[] = [];

  constructor(
    private readonly conn: NatsConnection,
    private readonly category: string,
    private readonly msgId: (s: Sent) => string,
  ) {}

  /** A JetStream publish; `agentTask` is the task an agent claims from it (its `rejected` state is a refusal). */
  async js(
    what: string,
    subject: string,
    bytes: Uint8Array,
    { msgId, agentTask }: { msgId?: string; agentTask?: string } = {},
  ): Promise<void> {
    const s: Sent = { category: this.category, what, subject, bytes, ...(agentTask ? { agentTask } : {}) };
    this.sent.push(await jsPublish(this.conn, s, msgId ?? this.msgId(s)));
  }

  /** A core publish, as heartbeats go: nothing acknowledges it, so `flush` before settling. */
  core(what: string, subject: string, bytes: Uint8Array): void {
    this.conn.publish(subject, bytes);
    this.sent.push({ category: this.category, what, subject, bytes });
  }

  flush(): Promise<void> {
    return this.conn.flush();
  }
}

/**
 * Waits until every sent message has its dead-letter record in `ledger` (or, for a task an agent claimed, its
 * `rejected` state), then counts each in `tally`: refused with the record's code, or silently dropped.
 */
export async function settle(
  tally: Tally,
  ledger: DeadLetterLedger,
  sent: readonly Sent[],
  {
    agentRejected,
    timeoutMs = 45_000,
  }: { agentRejected?: (taskId: string) => Promise<string | undefined>; timeoutMs?: number } = {},
): Promise<void> {
  const open = sent.filter((s) => !s.refusedAtPublish && !s.failedAtPublish && !s.duplicate);
  const need = new Map<string, number>();
  const keyOf = (s: Sent) => `${s.subject} ${sha256(s.bytes)}`;
  for (const s of open) need.set(keyOf(s), (need.get(keyOf(s)) ?? 0) + 1);
  const rejected = new Map<string, string>();
  try {
    await waitFor(
      `${open.length} dead letters`,
      async () => {
        await ledger.refresh();
        for (const s of open)
          if (s.agentTask && agentRejected && !rejected.has(s.agentTask)) {
            const reason = await agentRejected(s.agentTask);
            if (reason) rejected.set(s.agentTask, reason);
          }
        return open.every(
          (s) =>
            (s.agentTask && rejected.has(s.agentTask)) ||
            ledger.available(s.subject, s.bytes).length >= (need.get(keyOf(s)) ?? 1),
        );
      },
      { timeoutMs, intervalMs: 200 },
    );
  } catch {
    // Counted below: whatever has no record was dropped silently.
  }
  for (const s of sent) {
    if (s.refusedAtPublish) {
      tally.add(s.category, s.what, { refused: `publish refused: ${s.refusedAtPublish.slice(0, 80)}` });
    } else if (s.failedAtPublish) {
      tally.add(s.category, s.what, { crashed: `publish failed: ${s.failedAtPublish.slice(0, 200)}` });
    } else if (s.duplicate) {
      // JetStream keeps one message per message id within its duplicate window: the re-send is not stored at all.
      tally.add(s.category, s.what, { byDesign: "JetStream deduplicated the message id" });
    } else {
      const record = ledger.take(s.subject, s.bytes);
      if (record)
        tally.add(
          s.category,
          s.what,
          record.code && record.message
            ? { refused: record.code }
            : { accepted: "a dead letter without a reason" },
        );
      else if (s.agentTask && rejected.has(s.agentTask))
        tally.add(s.category, s.what, { refused: "rejected by the agent" });
      else
        tally.add(s.category, s.what, {
          accepted: `no dead-letter record for ${s.subject}: silently dropped`,
        });
    }
  }
}
