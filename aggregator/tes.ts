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
  IMAGE_REF,
  isTreName,
  PROJECT_NAME,
  TRE_NAME,
} from "../protocol/index.js";

export type ContainerSpec = Extract<AnalysisSpec, { kind: "container" }>;

/** An input `url` with this prefix names a dataset registered at each TRE. */
export const TES_DATASET_URL = "tremesh:dataset/";

/** The longest Submission title and TRE list the protocol accepts (protocol/messages.ts). */
const MAX_TITLE = 200;
const MAX_TRES = 256;
const OUTPUTS_DIR = "/outputs";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DIGEST_FORM = "name@sha256:<64 hex digits>, with a lower-case name and no tag or registry port";

/** A TES task tremesh cannot run as written: `field` is its path in the task (`executors[0].image`). */
export class TesImportError extends Error {
  override readonly name = "TesImportError";
  constructor(
    readonly field: string,
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${problem}`, options);
  }
}

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

function executorOf(
  executors: unknown,
  warnings: string[],
): { image: string; command: string[]; env: Record<string, string> | undefined } {
  if (!present(executors)) throw new TesImportError("executors", "is required: one executor to run");
  if (!Array.isArray(executors))
    throw new TesImportError("executors", `expected a list, got ${kindOf(executors)}`);
  if (executors.length !== 1) {
    throw new TesImportError(
      "executors",
      `must have exactly one executor, got ${executors.length}: tremesh runs one container per TRE per task, ` +
        "so run the steps from one command in one image, or submit them as separate tasks",
    );
  }
  const f = "executors[0]";
  const e = objectAt(executors[0], f);
  const image = imageOf(e.image, `${f}.image`);

  if (!present(e.command))
    throw new TesImportError(`${f}.command`, "is required: the command to run in the image");
  if (!Array.isArray(e.command))
    throw new TesImportError(`${f}.command`, `expected a list of strings, got ${kindOf(e.command)}`);
  if (e.command.length === 0) throw new TesImportError(`${f}.command`, "must not be empty");
  const command = e.command.map((arg, i) => {
    if (typeof arg !== "string")
      throw new TesImportError(`${f}.command[${i}]`, `expected a string, got ${kindOf(arg)}`);
    return arg;
  });

  let env: Record<string, string> | undefined;
  if (present(e.env)) {
    env = {};
    for (const [name, value] of Object.entries(objectAt(e.env, `${f}.env`))) {
      if (!ENV_NAME.test(name)) {
        throw new TesImportError(
          `${f}.env`,
          `${show(name)} is not a variable name (letters, digits, _, not starting with a digit)`,
        );
      }
      if (typeof value !== "string")
        throw new TesImportError(`${f}.env.${name}`, `expected a string, got ${kindOf(value)}`);
      env[name] = value;
    }
  }

  if (present(e.stdin)) {
    throw new TesImportError(
      `${f}.stdin`,
      "must be absent: nothing enters a TRE except the task, so there is no file to read",
    );
  }
  for (const stream of ["stdout", "stderr"] as const) {
    if (present(e[stream])) {
      warnings.push(`${f}.${stream}: ignored: tremesh keeps a container's stdout and stderr inside the TRE`);
    }
  }
  if (present(e.workdir)) {
    warnings.push(
      `${f}.workdir: ignored: the container starts in /tmp (its scratch space), so use absolute paths`,
    );
  }
  if (e.ignore_error === true) {
    warnings.push(
      `${f}.ignore_error: ignored: a non-zero exit always ends the task at that TRE as an executor error`,
    );
  }
  return { image, command, env };
}

function imageOf(v: unknown, field: string): string {
  if (!present(v)) throw new TesImportError(field, `is required: an image pinned by digest (${DIGEST_FORM})`);
  if (typeof v !== "string") throw new TesImportError(field, `expected a string, got ${kindOf(v)}`);
  if (!v.includes("@")) {
    throw new TesImportError(
      field,
      `${show(v)} is named by tag only; pin it by digest as ${DIGEST_FORM}: a TRE runs only images it has allow-listed by digest, and a tag can move`,
    );
  }
  if (!IMAGE_REF.test(v)) throw new TesImportError(field, `${show(v)} is not ${DIGEST_FORM}`);
  return v;
}

function inputDatasets(inputs: unknown): string[] {
  if (!present(inputs)) return [];
  if (!Array.isArray(inputs)) throw new TesImportError("inputs", `expected a list, got ${kindOf(inputs)}`);
  return inputs.map((input, i) => {
    const f = `inputs[${i}]`;
    const o = objectAt(input, f);
    if (present(o.content)) {
      throw new TesImportError(
        `${f}.content`,
        "is not supported: nothing enters a TRE except the task; build the file into the image instead",
      );
    }
    const url = optionalString(o.url, `${f}.url`);
    if (url === undefined || !url.startsWith(TES_DATASET_URL)) {
      throw new TesImportError(
        `${f}.url`,
        `${url === undefined ? "is missing" : `${show(url)} is not supported`}: nothing enters a TRE except the task, ` +
          `so an input can only name a TRE dataset, as ${TES_DATASET_URL}<name>`,
      );
    }
    const name = url.slice(TES_DATASET_URL.length);
    if (!IDENTIFIER.test(name)) {
      throw new TesImportError(`${f}.url`, `${show(name)} is not a dataset name (letters, digits and _)`);
    }
    if (present(o.type) && o.type !== "FILE") {
      throw new TesImportError(
        `${f}.type`,
        `${show(o.type)}: a dataset is a FILE, mounted at /data/${name}.csv`,
      );
    }
    if (present(o.path) && o.path !== `/data/${name}.csv`) {
      throw new TesImportError(
        `${f}.path`,
        `${show(o.path)}: dataset ${name} is mounted read-only at /data/${name}.csv`,
      );
    }
    return name;
  });
}

function checkOutputs(outputs: unknown, warnings: string[]): void {
  if (!present(outputs)) return;
  if (!Array.isArray(outputs)) throw new TesImportError("outputs", `expected a list, got ${kindOf(outputs)}`);
  outputs.forEach((output, i) => {
    const f = `outputs[${i}]`;
    const o = objectAt(output, f);
    const path = optionalString(o.path, `${f}.path`);
    if (path === undefined)
      throw new TesImportError(`${f}.path`, `is required: a file under ${OUTPUTS_DIR}/`);
    const type = present(o.type) ? o.type : "FILE";
    if (type !== "FILE" && type !== "DIRECTORY") {
      throw new TesImportError(`${f}.type`, `${show(type)} is not one of "FILE", "DIRECTORY"`);
    }
    const isOutputsDir = path === OUTPUTS_DIR || path === `${OUTPUTS_DIR}/`;
    if (isOutputsDir && type === "FILE") {
      throw new TesImportError(
        `${f}.type`,
        `${OUTPUTS_DIR} is a directory: give it type DIRECTORY, or name a file in it`,
      );
    }
    if (!isOutputsDir && !isOutputFile(path)) {
      const where = path.startsWith(`${OUTPUTS_DIR}/`)
        ? "is not a file directly in /outputs: the TRE collects only the plain files at its top level"
        : `is not under ${OUTPUTS_DIR}/: tremesh collects outputs only from ${OUTPUTS_DIR}, into the TRE's airlock`;
      throw new TesImportError(`${f}.path`, `${show(path)} ${where}`);
    }
    if (!isOutputsDir && type === "DIRECTORY") {
      throw new TesImportError(
        `${f}.type`,
        `only ${OUTPUTS_DIR} itself may be a DIRECTORY output; list files by path`,
      );
    }
    const prefix = optionalString(o.path_prefix, `${f}.path_prefix`);
    if (prefix !== undefined && prefix !== OUTPUTS_DIR && prefix !== `${OUTPUTS_DIR}/`) {
      throw new TesImportError(`${f}.path_prefix`, `${show(prefix)} is not ${OUTPUTS_DIR}`);
    }
    if (present(o.url)) {
      warnings.push(
        `${f}.url: ignored: outputs leave a TRE only through its airlock, after review, never to a URL`,
      );
    }
  });
}

/** A file directly in /outputs: the TRE collects top-level plain files only, never sub-directories. */
function isOutputFile(path: string): boolean {
  const name = path.slice(OUTPUTS_DIR.length + 1);
  return (
    path.startsWith(`${OUTPUTS_DIR}/`) && name !== "" && name !== "." && name !== ".." && !name.includes("/")
  );
}

/** A `|`- or `,`-separated tag, each item checked against `pattern`. */
function tagList(tags: Record<string, unknown>, key: string, pattern: RegExp, what: string): string[] {
  const value = optionalString(tags[key], `tags.${key}`);
  if (value === undefined) return [];
  const items = value
    .split(/[|,]/)
    .map((s) => s.trim())
    .filter((s) => s !== "");
  const bad = items.find((s) => !pattern.test(s));
  if (bad !== undefined) throw new TesImportError(`tags.${key}`, `${show(bad)} is not ${what}`);
  return items;
}

/** Generators write absent optional fields as `null` as often as they omit them. */
function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function objectAt(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TesImportError(field, `expected a JSON object, got ${kindOf(v)}`);
  }
  return v as Record<string, unknown>;
}

function optionalString(v: unknown, field: string): string | undefined {
  if (!present(v)) return undefined;
  if (typeof v !== "string") throw new TesImportError(field, `expected a string, got ${kindOf(v)}`);
  return v;
}

function isEmptyObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** Maps a path in the container analysis back to the TES field it came from. */
function tesField(path: string): string {
  const [, key, rest] = /^analysis\.(image|command|env|datasets)(.*)$/.exec(path) ?? [];
  if (key === "datasets") return `inputs and tags.datasets${rest}`;
  return key === undefined ? path : `executors[0].${key}${rest}`;
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return show(v);
  return `${typeof v} ${String(v)}`;
}

/** Quotes a value from the task, shortened so a huge field cannot flood the terminal. */
function show(v: unknown): string {
  const s = typeof v === "string" ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}
