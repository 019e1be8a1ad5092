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

/** A `|`- or `,`-separated tag, each item checked against `pattern`. */
export function tagList(tags: Record<string, unknown>, key: string, pattern: RegExp, what: string): string[] {
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
export function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

export function objectAt(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new TesImportError(field, `expected a JSON object, got ${kindOf(v)}`);
  }
  return v as Record<string, unknown>;
}

export function optionalString(v: unknown, field: string): string | undefined {
  if (!present(v)) return undefined;
  if (typeof v !== "string") throw new TesImportError(field, `expected a string, got ${kindOf(v)}`);
  return v;
}

export function isEmptyObject(v: unknown): boolean {
  return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

export function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** Maps a path in the container analysis back to the TES field it came from. */
export function tesField(path: string): string {
  const [, key, rest] = /^analysis\.(image|command|env|datasets)(.*)$/.exec(path) ?? [];
  if (key === "datasets") return `inputs and tags.datasets${rest}`;
  return key === undefined ? path : `executors[0].${key}${rest}`;
}

export function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "an object";
  if (typeof v === "string") return show(v);
  return `${typeof v} ${String(v)}`;
}

/** Quotes a value from the task, shortened so a huge field cannot flood the terminal. */
export function show(v: unknown): string {
  const s = typeof v === "string" ? v : String(v);
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}...` : s);
}
