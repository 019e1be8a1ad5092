/**
 * A tiny serializer for nats-server's configuration syntax.
 *
 * The NATS conf format accepts a JSON-like superset, so every string is written JSON-quoted: no value
 * can ever be misread as a number, a size ("1GB"), a `$variable` reference or an `include`. We refuse
 * control characters instead of escaping them, because the NATS lexer does not understand JSON's
 * `\uXXXX` escapes ("Invalid escape character 'u'"); no legitimate name, path or generated secret
 * contains one.
 *
 * @example
 * toNatsConf({ server_name: "hub", jetstream: { domain: "hub", store_dir: "/var/lib/tremesh" } })
 * // server_name: "hub"
 * // jetstream: {
 * //   domain: "hub"
 * //   store_dir: "/var/lib/tremesh"
 * // }
 */

/** A value in a NATS config. `undefined` map entries are skipped, which keeps optional fields simple. */
export type ConfValue = string | number | boolean | readonly ConfValue[] | ConfMap;
export interface ConfMap {
  readonly [key: string]: ConfValue | undefined;
}

export class NatsConfError extends Error {
  override readonly name = "NatsConfError";
  /** Dotted path of the offending value, e.g. `accounts.FED.users[0].password`. */
  readonly path: string;
  constructor(path: string, problem: string) {
    super(`${path || "(root)"}: ${problem}`);
    this.path = path;
  }
}

const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A lone UTF-16 surrogate: JSON.stringify would write it as `\uXXXX`, which NATS cannot read. */
const LONE_SURROGATE = /\p{Cs}/u;
const INDENT = "  ";

/** Serializes a top-level map (no surrounding braces) into NATS config text, ending with a newline. */
export function toNatsConf(root: ConfMap): string {
  return `${mapBody(root, "", "")}\n`;
}

function mapBody(map: ConfMap, indent: string, path: string): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(map)) {
    if (value === undefined) continue;
    const at = path === "" ? key : `${path}.${key}`;
    lines.push(`${indent}${confKey(key, at)}: ${confValue(value, indent, at)}`);
  }
  return lines.join("\n");
}

function confKey(key: string, path: string): string {
  if (BARE_KEY.test(key)) return key;
  return quote(key, path);
}

function confValue(value: ConfValue, indent: string, path: string): string {
  if (typeof value === "string") return quote(value, path);
  if (typeof value === "boolean") return value ? "true" : "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new NatsConfError(path, `not an integer: ${value}`);
    return String(value);
  }
  const inner = indent + INDENT;
  if (isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((item, i) => `${inner}${confValue(item, inner, `${path}[${i}]`)}`);
    return `[\n${items.join("\n")}\n${indent}]`;
  }
  const body = mapBody(value, inner, path);
  return body === "" ? "{}" : `{\n${body}\n${indent}}`;
}

// Array.isArray does not narrow a readonly array out of a union, hence the guard.
function isArray(value: ConfValue): value is readonly ConfValue[] {
  return Array.isArray(value);
}

function quote(s: string, path: string): string {
  if (CONTROL.test(s)) throw new NatsConfError(path, "contains a control character");
  if (LONE_SURROGATE.test(s)) throw new NatsConfError(path, "contains a lone UTF-16 surrogate");
  return JSON.stringify(s);
}
