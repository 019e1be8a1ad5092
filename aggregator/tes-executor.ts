/**
 * A TES task's executor, inputs and outputs read as tremesh's container analysis: exactly one executor with its
 * image pinned by digest, inputs that are TRE datasets, and outputs that are files directly in `/outputs`.
 */
import { IDENTIFIER, IMAGE_REF } from "../protocol/index.js";
import { kindOf, objectAt, optionalString, present, show, TesImportError } from "./tes-fields.js";

/** An input `url` with this prefix names a dataset registered at each TRE. */
export const TES_DATASET_URL = "tremesh:dataset/";
const OUTPUTS_DIR = "/outputs";
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DIGEST_FORM = "name@sha256:<64 hex digits>, with a lower-case name and no tag or registry port";

export function executorOf(
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

export function imageOf(v: unknown, field: string): string {
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

export function inputDatasets(inputs: unknown): string[] {
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

export function checkOutputs(outputs: unknown, warnings: string[]): void {
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
export function isOutputFile(path: string): boolean {
  const name = path.slice(OUTPUTS_DIR.length + 1);
  return (
    path.startsWith(`${OUTPUTS_DIR}/`) && name !== "" && name !== "." && name !== ".." && !name.includes("/")
  );
}
