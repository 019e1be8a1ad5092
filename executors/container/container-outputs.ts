/**
 * Collecting what a container left in /outputs, for the airlock. The directory was written by
 * researcher code, so everything in it is treated as hostile:
 *
 * - only regular files at the top level are collected; a link, a directory, a device or a pipe fails
 *   the task (a link could point the agent at a file of the TRE's own), and files are opened with
 *   O_NOFOLLOW and checked again on the open handle;
 * - at most `maxFiles` files and `maxBytes` bytes in all, checked before anything is read in full;
 * - names go through protocol's `uniqueSafeNames` (letters, digits, `.`, `_` and `-`; no leading `.` or
 *   `-`; at most 100 characters; unique ignoring case), so no name can mean a path anywhere it is written;
 * - a `.json` file that is a valid tremesh output description (its `analysis` is set to the task's own
 *   spec, its `dataset` defaulted to the task's one dataset) goes to the airlock as one, so the
 *   disclosure checks apply as to any built-in analysis. Every other file keeps its own media type, and
 *   the airlock holds it for a reviewer to read.
 *
 * Errors that leave the TRE never name a file: names were chosen by researcher code, and a name is a
 * way to smuggle data out. The names are in `detail`, for the TRE's own log.
 */
import { constants } from "node:fs";
import { lstat, open, readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  type AnalysisOutput,
  type AnalysisSpec,
  analysisOutput,
  encodeOutput,
  OUTPUT_MEDIA_TYPE,
  uniqueSafeNames,
} from "../../protocol/index.js";
import { ExecutorFailed } from "../errors.js";
import type { ExecutorOutput } from "../executor.js";

export interface OutputLimits {
  maxFiles: number;
  maxBytes: number;
}

/** A collection failure: `message` may leave the TRE; `detail` (names, sizes) stays in its log. */
export class OutputRefused extends ExecutorFailed {
  constructor(
    message: string,
    readonly detail: string,
  ) {
    super(message, { retryable: false });
  }
}

const MEDIA_TYPES: Record<string, string> = {
  ".csv": "text/csv",
  ".tsv": "text/tab-separated-values",
  ".txt": "text/plain",
  ".log": "text/plain",
  ".md": "text/markdown",
  ".json": "application/json",
  ".html": "text/html",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".pdf": "application/pdf",
  ".parquet": "application/vnd.apache.parquet",
};

/** The media type a reviewer's tools will open a file as, by its extension. */
function mediaTypeOf(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot >= 0 && MEDIA_TYPES[name.slice(dot).toLowerCase()]) || "application/octet-stream";
}

const STATISTIC_KINDS = new Set(["count", "summary", "histogram", "crosstab", "regression"]);

/**
 * The output description a JSON file holds, or undefined when it is not one. The airlock, never the
 * container, sets suppression and rounding, so a file claiming either is not taken as a description.
 */
function asDescription(bytes: Uint8Array, spec: AnalysisSpec): AnalysisOutput | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  if (!STATISTIC_KINDS.has(String(record.kind))) return undefined;
  if ("suppressed" in record || "rounding" in record) return undefined;
  const datasets = spec.kind === "container" ? (spec.datasets ?? []) : [spec.dataset];
  const dataset = record.dataset ?? (datasets.length === 1 ? datasets[0] : undefined);
  try {
    return analysisOutput({ ...record, dataset, analysis: spec }, "");
  } catch {
    return undefined;
  }
}

/** Reads and classifies every file in `dir`; throws OutputRefused for anything but plain files within limits. */
export async function collectOutputs(
  dir: string,
  spec: AnalysisSpec,
  limits: OutputLimits,
): Promise<ExecutorOutput[]> {
  const entries = (await readdir(dir)).sort();
  if (entries.length === 0)
    throw new OutputRefused("the container wrote no file to /outputs", "empty output directory");
  if (entries.length > limits.maxFiles) {
    throw new OutputRefused(
      `the container wrote ${entries.length} files to /outputs; this TRE collects at most ${limits.maxFiles}`,
      `${entries.length} entries`,
    );
  }
  let total = 0;
  for (const entry of entries) {
    const stat = await lstat(join(dir, entry));
    if (!stat.isFile()) {
      const what = stat.isSymbolicLink()
        ? "a symbolic link"
        : stat.isDirectory()
          ? "a directory"
          : "a special file";
      throw new OutputRefused(
        `the container left ${what} in /outputs; only plain files are collected`,
        `${JSON.stringify(entry)} is ${what}`,
      );
    }
    total += stat.size;
  }
  if (total > limits.maxBytes) {
    throw new OutputRefused(
      `the container's outputs come to ${total} bytes; this TRE collects at most ${limits.maxBytes}`,
      `sizes ${total}`,
    );
  }

  const names = uniqueSafeNames(entries);
  const outputs: ExecutorOutput[] = [];
  for (const [i, entry] of entries.entries()) {
    const bytes = await readPlainFile(join(dir, entry), limits.maxBytes);
    const name = names[i]!;
    const description = name.toLowerCase().endsWith(".json") ? asDescription(bytes, spec) : undefined;
    if (description) {
      const canonical = encodeOutput(description);
      outputs.push({ name, mediaType: OUTPUT_MEDIA_TYPE, bytes: canonical, description });
    } else {
      outputs.push({ name, mediaType: mediaTypeOf(name), bytes });
    }
  }
  return outputs;
}

async function readPlainFile(file: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new OutputRefused("a file in /outputs changed while it was collected", file);
    if (stat.size > maxBytes)
      throw new OutputRefused(`an output is larger than this TRE's limit of ${maxBytes} bytes`, file);
    return new Uint8Array(await handle.readFile());
  } finally {
    await handle.close();
  }
}
