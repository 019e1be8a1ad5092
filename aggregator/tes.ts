/**
 * A GA4GH TES task (v1.1, https://ga4gh.github.io/task-execution-schemas/) read as a tremesh
 * container submission, so researchers can keep the task files they write for Five Safes TES.
 *
 * tremesh is stricter than a TES server because nothing may enter or leave a TRE except the task
 * and its reviewed outputs:
 * - `tags.Project` (or `tags.project`) names the project and `tags.tres` the TREs, `|`- or
 *   `,`-separated as 5S-TES writes them; the caller's `project` and `tres` options win over both.
 * - Exactly one executor, its image pinned by digest (`name@sha256:<64 hex>`): a TRE allow-lists
 *   images by digest, and runs one container per task.
 * - Inputs are TRE datasets only: an input whose `url` is `tremesh:dataset/<name>`, or a name in
 *   `tags.datasets`. Each is mounted read-only in the container at `/data/<name>.csv`.
 * - Outputs are files directly in `/outputs/` (or the directory `/outputs` itself); the TRE collects
 *   them into its airlock for review, so an output's `url` has no effect.
 * - `resources` has no effect (the TRE's leaf.yaml sets CPU, memory and time limits); `volumes` are
 *   refused (the root filesystem is read-only; only `/tmp` and `/outputs` are writable).
 * Server-set fields (`id`, `state`, `logs`, `creation_time`) and other unknown fields are ignored.
 */
import {
  type AnalysisSpec,
  analysisSpec,
  FieldError,
  IDENTIFIER,
  isTreName,
  PROJECT_NAME,
  TRE_NAME,
} from "../protocol/index.js";

import { checkOutputs, executorOf, inputDatasets, TES_DATASET_URL } from "./tes-executor.js";
import {
  isEmptyObject,
  objectAt,
  optionalString,
  present,
  show,
  TesImportError,
  tagList,
  tesField,
  unique,
} from "./tes-fields.js";

export { TES_DATASET_URL, TesImportError };

export type ContainerSpec = Extract<AnalysisSpec, { kind: "container" }>;

/** The longest Submission title and TRE list the protocol accepts (protocol/messages.ts). */
const MAX_TITLE = 200;
const MAX_TRES = 256;

export interface TesImportOptions {
  /** The project, overriding `tags.Project` (the CLI's `--project`). Default: from the tags. */
  project?: string;
  /** The target TREs, overriding `tags.tres` (the CLI's `--tres`). Default: from the tags. */
  tres?: readonly string[];
  /** The title, overriding the task's `name` (the CLI's `--title`). Default: the trimmed `name`. */
  title?: string;
}

export interface TesSubmission {
  project: string;
  tres: string[];
  /** The `title` option, else the task's trimmed `name`, if either is non-empty. */
  title?: string;
  analysis: ContainerSpec;
  /** Fields accepted but without effect in tremesh, one sentence each, for the researcher to read. */
  warnings: string[];
}

/**
 * Converts a parsed TES task into what `submit` needs, validated exactly as the hub validates it.
 * Throws `TesImportError` naming the first field tremesh cannot honour.
 *
 * @example
 * const task = JSON.parse(await readFile("tes-task.json", "utf8"));
 * const { project, tres, title, analysis, warnings } = tesTaskToSubmission(task, { tres: ["north"] });
 * for (const w of warnings) console.error(`warning: ${w}`);
 * await submit(nc, key, { project, tres, analysis, ...(title ? { title } : {}) });
 */
export function tesTaskToSubmission(json: unknown, options: TesImportOptions = {}): TesSubmission {
  const task = objectAt(json, "task");
  const warnings: string[] = [];
  const tags = present(task.tags) ? objectAt(task.tags, "tags") : {};

  const project = projectOf(tags, options.project, warnings);
  const tres = tresOf(tags, options.tres, warnings);
  const title = options.title !== undefined ? titleOf(options.title, "title") : titleOf(task.name, "name");
  const { image, command, env } = executorOf(task.executors, warnings);
  const datasets = unique([
    ...inputDatasets(task.inputs),
    ...tagList(tags, "datasets", IDENTIFIER, "a dataset"),
  ]);
  checkOutputs(task.outputs, warnings);
  if (present(task.resources) && !isEmptyObject(task.resources)) {
    warnings.push(
      "resources: ignored: the TRE's own CPU, memory, disk and time limits apply (its leaf.yaml)",
    );
  }
  if (present(task.volumes) && !(Array.isArray(task.volumes) && task.volumes.length === 0)) {
    throw new TesImportError(
      "volumes",
      "tremesh runs containers with a read-only root filesystem; only /tmp (scratch) and /outputs are writable, so remove volumes",
    );
  }

  const candidate = {
    kind: "container",
    image,
    command,
    ...(env && Object.keys(env).length > 0 ? { env } : {}),
    ...(datasets.length > 0 ? { datasets } : {}),
  };
  let analysis: AnalysisSpec;
  try {
    analysis = analysisSpec(candidate, "analysis");
  } catch (cause) {
    if (!(cause instanceof FieldError)) throw cause;
    throw new TesImportError(tesField(cause.path), cause.problem, { cause });
  }
  if (analysis.kind !== "container") throw new Error("unreachable: the candidate is a container analysis");
  return { project, tres, ...(title ? { title } : {}), analysis, warnings };
}

function projectOf(tags: Record<string, unknown>, override: string | undefined, warnings: string[]): string {
  const upper = optionalString(tags.Project, "tags.Project");
  const lower = optionalString(tags.project, "tags.project");
  if (upper !== undefined && lower !== undefined && upper !== lower) {
    throw new TesImportError("tags.project", `${show(lower)} disagrees with tags.Project ${show(upper)}`);
  }
  const field = upper !== undefined ? "tags.Project" : "tags.project";
  const tagged = upper ?? lower;
  if (override !== undefined) {
    if (!PROJECT_NAME.test(override))
      throw new TesImportError("project", `${show(override)} is not a project name`);
    if (tagged !== undefined && tagged !== override) {
      warnings.push(`${field}: ${show(tagged)} replaced by the project given separately, ${show(override)}`);
    }
    return override;
  }
  if (tagged === undefined) {
    throw new TesImportError(
      "tags.Project",
      "is required: name the task's project here or on the command line",
    );
  }
  if (!PROJECT_NAME.test(tagged)) {
    throw new TesImportError(
      field,
      `${show(tagged)} is not a tremesh project name (lower-case letters, digits, _ and -, starting with a letter)`,
    );
  }
  return tagged;
}

function tresOf(
  tags: Record<string, unknown>,
  override: readonly string[] | undefined,
  warnings: string[],
): string[] {
  if (override !== undefined) {
    const bad = override.find((t) => !isTreName(t));
    if (bad !== undefined) throw new TesImportError("tres", `${show(bad)} is not a TRE name`);
    if (override.length === 0) throw new TesImportError("tres", "must name at least one TRE");
    if (present(tags.tres))
      warnings.push(`tags.tres: replaced by the TREs given separately, ${override.join(", ")}`);
    return atMostMaxTres(unique(override), "tres");
  }
  if (!present(tags.tres)) {
    throw new TesImportError(
      "tags.tres",
      'is required: name the TREs here ("north|south") or on the command line',
    );
  }
  const tres = tagList(tags, "tres", TRE_NAME, "a TRE name (lower-case letters, digits and -)");
  if (tres.length === 0) throw new TesImportError("tags.tres", "must name at least one TRE");
  return atMostMaxTres(unique(tres), "tags.tres");
}

function atMostMaxTres(tres: string[], field: string): string[] {
  if (tres.length > MAX_TRES)
    throw new TesImportError(field, `must name at most ${MAX_TRES} TREs, got ${tres.length}`);
  return tres;
}

function titleOf(name: unknown, field: string): string | undefined {
  const title = optionalString(name, field)?.trim();
  if (title && title.length > MAX_TITLE) {
    throw new TesImportError(
      field,
      `must have at most ${MAX_TITLE} characters (a tremesh task title), got ${title.length}`,
    );
  }
  return title || undefined;
}
