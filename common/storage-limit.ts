/**
 * JetStream storage limits, named. A publish into a stream that has reached one of its limits (its own
 * `max_bytes`, its account's JetStream storage, the server's `max_file_store`) comes back as a JetStream API
 * error with a server code; this turns those codes into a `StorageLimitError` that says which limit, how large
 * it is and how much of it is used, so the party that hit it can refuse with those words instead of a bare
 * "unavailable, retry" that a retry can never cure.
 *
 * @example
 * try { await js.publish(subject, data); }
 * catch (e) { if (isStorageLimit(e)) throw await describeStorageLimit(e, { what: "TRE a's TASKS", jsm, stream: "TASKS" }); throw e; }
 */
import { JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";

/** nats-server's error codes (server/errors.json) that mean a storage limit was reached. */
export const StorageLimitCode = {
  /** JSAccountResourcesExceededErr: the account's JetStream storage (`max_file` / an operator JWT's `disk_storage`). */
  accountResources: 10002,
  /** JSInsufficientResourcesErr: the server has no room left for JetStream. */
  insufficientResources: 10023,
  /** JSMemoryResourcesExceededErr: the server's `max_memory_store`. */
  memoryResources: 10028,
  /** JSStorageResourcesExceededErr: the server's `max_file_store`. */
  storageResources: 10047,
  /** JSStreamMessageExceedsMaximumErr: one message over the stream's `max_msg_size`. */
  messageTooLarge: 10054,
  /** JSStreamStoreFailedF: the stream's own store refused (its `max_bytes` or `max_msgs` with discard new). */
  streamStoreFailed: 10077,
} as const;
export type StorageLimitCode = (typeof StorageLimitCode)[keyof typeof StorageLimitCode];

const CODES: ReadonlySet<number> = new Set(Object.values(StorageLimitCode));

/** Whether `error` is JetStream saying a storage limit was reached (by its code, never its text). */
export function isStorageLimit(error: unknown): error is JetStreamApiError {
  return error instanceof JetStreamApiError && CODES.has(error.code);
}

/** Which limit: the stream's own, its account's, or the server's. */
export type StorageLimitKind = "stream" | "account" | "server";

/** A storage limit reached: `limit` names it in words, `bytes` is its size where the server tells it. */
export class StorageLimitError extends Error {
  override readonly name = "StorageLimitError";
  constructor(
    message: string,
    readonly kind: StorageLimitKind,
    /** The limit in words, e.g. "the JetStream storage of TRE a's hub account". */
    readonly limit: string,
    /** The JetStream server code it came with (`StorageLimitCode`). */
    readonly serverCode: number,
    /** The limit's size in bytes (or messages, for `max_msgs`), when known. */
    readonly size?: number,
    /** How much of it is in use, in bytes, when known. */
    readonly used?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A size as people read it: "1 MiB", "1.5 GiB", "900 bytes". */
export function formatBytes(bytes: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return `${shown} ${units[unit]}`;
}

export interface StorageLimitContext {
  /** What was being stored where, for people: "task queue of TRE a at the hub". */
  what: string;
  /** The account whose limit it may be, in words: "TRE a's hub account". */
  account: string;
  /** A manager of that account, to read the limit's size (account info, stream config); absent: sizes unknown. */
  jsm?: JetStreamManager | undefined;
  /** The stream written to, for its own limits. */
  stream?: string;
}

/**
 * The `StorageLimitError` for a refused publish (`isStorageLimit(error)`): which limit, and its size and use when
 * `ctx.jsm` can read them. Asking may fail too (the account full, the link gone): the limit is named without them.
 */
export async function describeStorageLimit(
  error: JetStreamApiError,
  ctx: StorageLimitContext,
): Promise<StorageLimitError> {
  const make = (kind: StorageLimitKind, limit: string, size?: number, used?: number) => {
    const amount =
      size === undefined
        ? ""
        : ` (${formatBytes(size)}${used === undefined ? "" : `, ${formatBytes(used)} in use`})`;
    return new StorageLimitError(
      `the ${ctx.what} is full: ${limit}${amount} is reached`,
      kind,
      limit,
      error.code,
      size,
      used,
      { cause: error },
    );
  };
  switch (error.code) {
    case StorageLimitCode.accountResources: {
      const info = await ctx.jsm?.getAccountInfo().catch(() => undefined);
      return make(
        "account",
        `the JetStream storage of ${ctx.account}`,
        positive(info?.limits.max_storage),
        info?.storage,
      );
    }
    case StorageLimitCode.streamStoreFailed:
    case StorageLimitCode.messageTooLarge: {
      const info = ctx.stream ? await ctx.jsm?.streams.info(ctx.stream).catch(() => undefined) : undefined;
      const stream = ctx.stream ?? "the stream";
      if (error.code === StorageLimitCode.messageTooLarge)
        return make("stream", `the largest message ${stream} takes`, positive(info?.config.max_msg_size));
      // One code for every refusal of the stream's store: the server's words say which limit ("maximum bytes
      // exceeded", "maximum messages exceeded", "maximum messages per subject exceeded").
      if (/messages/i.test(error.message))
        return new StorageLimitError(
          `the ${ctx.what} is full: the most messages ${stream} keeps (${positive(info?.config.max_msgs) ?? "its max_msgs"}) is reached`,
          "stream",
          `the most messages ${stream} keeps`,
          error.code,
          positive(info?.config.max_msgs),
          info?.state.messages,
          { cause: error },
        );
      return make(
        "stream",
        `the size limit of ${stream}`,
        positive(info?.config.max_bytes),
        info?.state.bytes,
      );
    }
    default:
      return make("server", "the JetStream storage of the server (its max_file_store, or its disk)");
  }
}

const positive = (n: number | undefined) => (n !== undefined && n > 0 ? n : undefined);
