/**
 * Reading an operator's YAML config file: parse, validate with the protocol validators, resolve relative
 * paths against the file's folder, and read secrets from their own files. Every failure is a
 * ConfigFileError naming the file, the field and the problem, never a stack trace.
 *
 * @example
 * const raw = await readYamlConfig("hub.yaml");
 * const config = validateConfig(raw, hubConfigSchema); // throws ConfigFileError("hub.yaml", "tres[1].name", …)
 */

import { readFile, stat } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse, YAMLParseError } from "yaml";
import {
  type Check,
  FieldError,
  isPublicKey,
  KeyFormatError,
  type SigningKey,
  signingKeyFromSeed,
} from "../protocol/index.js";
import { InputFileError, readBoundedFile } from "./bounded-file.js";
import { isSystemError, systemErrorTold } from "./file-errors.js";
import { MIN_PASSWORD_LENGTH } from "./user-credential.js";

export class ConfigFileError extends Error {
  override readonly name = "ConfigFileError";
  readonly file: string;
  /** The offending field's path, e.g. `tres[1].publicKey`; empty for the file as a whole. */
  readonly field: string;
  constructor(file: string, field: string, problem: string, options?: ErrorOptions) {
    super(`${file}${field ? `: ${field}` : ""}: ${problem}`, options);
    this.file = file;
    this.field = field;
  }
}

/** Config files are small; a huge one is a mistake (or an attack on the parser). */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface LoadedYaml {
  file: string;
  /** The folder relative paths in the file are resolved against. */
  dir: string;
  value: unknown;
}

export async function readYamlConfig(file: string): Promise<LoadedYaml> {
  let text: string;
  try {
    // Bounded: a device (/dev/zero) was read until a string could hold no more, then refused in V8's words.
    text = (await readBoundedFile(file, MAX_CONFIG_BYTES)).toString("utf8");
  } catch (cause) {
    if (cause instanceof InputFileError) throw new ConfigFileError(file, "", cause.problem, { cause });
    throw new ConfigFileError(
      file,
      "",
      isSystemError(cause) ? `cannot read: ${systemErrorTold(cause)}` : `cannot read (${cause})`,
      {
        cause,
      },
    );
  }
  let value: unknown;
  try {
    // No custom tags, no aliases beyond a small count: plain data only.
    value = parse(text, { maxAliasCount: 16, prettyErrors: true });
  } catch (cause) {
    const where = cause instanceof YAMLParseError && cause.linePos ? ` at line ${cause.linePos[0].line}` : "";
    throw new ConfigFileError(file, "", `not valid YAML${where}`, { cause });
  }
  return { file, dir: dirname(resolve(file)), value };
}

/** Validates a parsed file; a FieldError becomes a ConfigFileError naming the file and field. */
export function validateConfig<T>(loaded: LoadedYaml, check: Check<T>): T {
  try {
    return check(loaded.value ?? {}, "");
  } catch (cause) {
    if (cause instanceof FieldError)
      throw new ConfigFileError(loaded.file, cause.path, cause.problem, { cause });
    throw cause;
  }
}

/**
 * Refuses port 0 in a config's `ports`: nats-server reads it as no choice at all (its default port, or no listener),
 * not as any free port. `means`: what 0 would do, for each port the config has.
 */
export function refuseZeroPorts(
  file: string,
  ports: Readonly<Record<string, number | undefined>> | undefined,
  means: Readonly<Record<string, string>>,
): void {
  for (const [name, meaning] of Object.entries(means))
    if (ports?.[name] === 0)
      throw new ConfigFileError(
        file,
        `ports.${name}`,
        `0 means ${meaning}, not any free port: give -1 for a free port, or a port number`,
      );
}

/**
 * File systems the kernel provides: a server's folder cannot be made there (sysfs refuses it; under /proc Node's
 * recursive mkdir, told ENOENT beneath a folder that exists, tries again forever, and the start hung). /dev is not
 * one of them: its tmpfs (/dev/shm) is writable, and a folder that cannot be made there is refused in words.
 */
const KERNEL_FILE_SYSTEMS = ["/proc", "/sys"];

/** The kernel's file system (`/proc` or `/sys`) that `path` is in, if it is in one. */
export function kernelFileSystemOf(path: string): string | undefined {
  const at = resolve(path);
  return KERNEL_FILE_SYSTEMS.find((k) => at === k || at.startsWith(`${k}/`));
}

/** Throws a ConfigFileError naming `field` when the folder `dir` (absolute) is in one of the kernel's file systems. */
export function refuseKernelDir(file: string, field: string, dir: string): void {
  const root = kernelFileSystemOf(dir);
  if (root)
    throw new ConfigFileError(
      file,
      field,
      `${dir} is in ${root}, a file system the kernel provides, not a disk: give a folder on a disk (e.g. under /var/lib)`,
    );
}

/** A path from the file, made absolute against the file's folder. */
export function configPath(loaded: LoadedYaml, path: string): string {
  return isAbsolute(path) ? path : resolve(loaded.dir, path);
}

/**
 * The rule for every file holding a secret (password, seed, creds), as ssh has for keys: no permission bit for
 * group or others. Returns the problem with a file of this `mode`, or undefined when it is owner-only.
 */
export function exposedSecretProblem(mode: number): string | undefined {
  if ((mode & 0o077) === 0) return undefined;
  return `can be read by other users (mode ${(mode & 0o777).toString(8)}); chmod 600 it`;
}

/**
 * Reads a file a config names (`field`), up to `maxBytes`; a `secret` one must be owner-only
 * (`exposedSecretProblem`). Every problem is a ConfigFileError naming the field and the path as written.
 */
export async function readConfiguredFile(
  loaded: LoadedYaml,
  field: string,
  path: string,
  rules: { maxBytes: number; secret: boolean; what: string },
): Promise<string> {
  const full = configPath(loaded, path);
  try {
    const info = await stat(full);
    const exposed = rules.secret ? exposedSecretProblem(info.mode) : undefined;
    if (exposed !== undefined) throw new ConfigFileError(loaded.file, field, `${path} ${exposed}`);
    if (info.size > rules.maxBytes)
      throw new ConfigFileError(loaded.file, field, `${path} is too large for ${rules.what}`);
    return await readFile(full, "utf8");
  } catch (cause) {
    if (cause instanceof ConfigFileError) throw cause;
    // A relative path is from the config's folder, not the shell's: say where that is, or "but it is right here"
    // is the reader's next thought (a bundle's profile.yaml next to a seed made elsewhere).
    const where = full === path ? "" : `: paths are relative to ${loaded.dir}, so this is ${full}`;
    throw new ConfigFileError(
      loaded.file,
      field,
      `cannot read ${path} (${(cause as NodeJS.ErrnoException).code ?? cause})${where}`,
      { cause },
    );
  }
}

/**
 * Reads a secret (a password, a key seed) from its own file: one line, surrounding white space removed.
 * Refuses a file that others can read (`exposedSecretProblem`).
 */
export async function readSecretFile(loaded: LoadedYaml, field: string, path: string): Promise<string> {
  const text = (
    await readConfiguredFile(loaded, field, path, { maxBytes: 64 * 1024, secret: true, what: "a secret" })
  ).trim();
  if (text === "") throw new ConfigFileError(loaded.file, field, `${path} is empty`);
  return text;
}

/**
 * Reads a nats-server user's password from its secret file (a reviewer's, or a config-mode user's): one shorter than
 * nats-server users are allowed is refused here, naming the file, not later as a field the YAML does not have.
 */
export async function readPasswordFile(loaded: LoadedYaml, field: string, path: string): Promise<string> {
  const password = await readSecretFile(loaded, field, path);
  if (password.length < MIN_PASSWORD_LENGTH)
    throw new ConfigFileError(
      loaded.file,
      field,
      `${path} holds a password of ${password.length} characters; at least ${MIN_PASSWORD_LENGTH} are needed ` +
        "(e.g. `openssl rand -base64 24`)",
    );
  return password;
}

/** Reads an nkey seed from its secret file and makes the signing key; a bad seed names the field, never the seed. */
export async function readSigningKeyFile(
  loaded: LoadedYaml,
  field: string,
  path: string,
): Promise<SigningKey> {
  const seed = await readSecretFile(loaded, field, path);
  try {
    return signingKeyFromSeed(seed);
  } catch (cause) {
    const problem = cause instanceof KeyFormatError ? cause.message : "not an nkey seed";
    throw new ConfigFileError(loaded.file, field, `${path}: ${problem}`, { cause });
  }
}

/** Whether `key` is an nkey user public key (U…). */
export function isUserPublicKey(key: string): boolean {
  return key.length === 56 && key.startsWith("U") && isPublicKey(key);
}

/** A config field holding an nkey user public key (U…): TRE, hub, researcher and reviewer signing keys. */
export const userPublicKey: Check<string> = (v, path) => {
  if (typeof v !== "string" || !isUserPublicKey(v)) {
    throw new FieldError(path, "is not an nkey user public key (U…)");
  }
  return v;
};
