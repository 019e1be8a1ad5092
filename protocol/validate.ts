/**
 * A small runtime validator for decoded message bodies: each check turns `unknown` into a
 * typed value or throws a `FieldError` naming the field path and what is wrong with it.
 * Validation happens once, at the edge; everything past it trusts the type.
 */

export class FieldError extends Error {
  override readonly name = "FieldError";
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path || "(body)"}: ${problem}`);
  }
}

export type Check<T> = (value: unknown, path: string) => T;
export type Infer<C> = C extends Check<infer T> ? T : never;

interface OptionalMark {
  readonly optional: true;
}
type OptionalCheck<T> = Check<T> & OptionalMark;

/** Describes a hostile value briefly, never echoing more than a few characters of it. */
function describe(value: unknown): string {
  if (value === null) return "null";
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === "string")
    return value.length > 24 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value).slice(0, 24)}`;
}

export function str(opts: { min?: number; max: number; pattern?: RegExp; what?: string }): Check<string> {
  return (v, path) => {
    if (typeof v !== "string") throw new FieldError(path, `expected a string, got ${describe(v)}`);
    if (v.length < (opts.min ?? 0)) throw new FieldError(path, `must have at least ${opts.min} characters`);
    if (v.length > opts.max) throw new FieldError(path, `must have at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(v)) {
      throw new FieldError(path, `${describe(v)} is not ${opts.what ?? `of the form ${opts.pattern}`}`);
    }
    return v;
  };
}

export function int(opts: { min: number; max: number }): Check<number> {
  return (v, path) => {
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      throw new FieldError(path, `expected an integer, got ${describe(v)}`);
    }
    if (v < opts.min || v > opts.max)
      throw new FieldError(path, `must be between ${opts.min} and ${opts.max}`);
    return v;
  };
}

export function num(): Check<number> {
  return (v, path) => {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new FieldError(path, `expected a finite number, got ${describe(v)}`);
    }
    return v;
  };
}

export function bool(): Check<boolean> {
  return (v, path) => {
    if (typeof v !== "boolean") throw new FieldError(path, `expected true or false, got ${describe(v)}`);
    return v;
  };
}

export function bytes(opts: { min?: number; max: number }): Check<Uint8Array> {
  return (v, path) => {
    if (!(v instanceof Uint8Array)) throw new FieldError(path, `expected bytes, got ${describe(v)}`);
    if (v.length < (opts.min ?? 0) || v.length > opts.max) {
      throw new FieldError(path, `must be ${opts.min ?? 0} to ${opts.max} bytes, got ${v.length}`);
    }
    return v;
  };
}

export function literal<const T extends readonly (string | number | boolean)[]>(
  ...values: T
): Check<T[number]> {
  return (v, path) => {
    if (!values.includes(v as T[number])) {
      throw new FieldError(
        path,
        `${describe(v)} is not one of ${values.map((x) => JSON.stringify(x)).join(", ")}`,
      );
    }
    return v as T[number];
  };
}

export function arr<T>(item: Check<T>, opts: { min?: number; max: number; unique?: boolean }): Check<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new FieldError(path, `expected an array, got ${describe(v)}`);
    if (v.length < (opts.min ?? 0)) throw new FieldError(path, `must have at least ${opts.min} items`);
    if (v.length > opts.max) throw new FieldError(path, `must have at most ${opts.max} items`);
    const out = v.map((x, i) => item(x, `${path}[${i}]`));
    if (opts.unique && new Set(out).size !== out.length)
      throw new FieldError(path, "must not repeat an item");
    return out;
  };
}

/** A string-keyed map with validated keys and values. */
export function record<T>(
  key: Check<string>,
  value: Check<T>,
  opts: { max: number },
): Check<Record<string, T>> {
  return (v, path) => {
    const o = plainObject(v, path);
    const keys = Object.keys(o);
    if (keys.length > opts.max) throw new FieldError(path, `must have at most ${opts.max} entries`);
    const out: Record<string, T> = {};
    for (const k of keys) out[key(k, `${path}.<key>`)] = value(o[k], `${path}.${k}`);
    return out;
  };
}

export function optional<T>(check: Check<T>): OptionalCheck<T | undefined> {
  const c = ((v: unknown, path: string) => (v === undefined ? undefined : check(v, path))) as OptionalCheck<
    T | undefined
  >;
  (c as { optional: boolean }).optional = true;
  return c;
}

type Shape = Record<string, Check<unknown>>;
type RequiredKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalMark ? never : K }[keyof S];
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K] extends OptionalMark ? K : never }[keyof S];
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Simplify<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Exclude<Infer<S[K]>, undefined> }
>;

function plainObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v) || v instanceof Uint8Array) {
    throw new FieldError(path, `expected an object, got ${describe(v)}`);
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) throw new FieldError(path, "expected a plain object");
  return v as Record<string, unknown>;
}

/** An object with exactly these fields: unknown fields are refused, so a typo never passes silently. */
export function obj<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  return (v, path) => {
    const o = plainObject(v, path);
    for (const k of Object.keys(o)) {
      if (!Object.hasOwn(shape, k))
        throw new FieldError(
          path ? `${path}.${k}` : k,
          `is not a known field (known: ${knownFields(shape)})`,
        );
    }
    const out: Record<string, unknown> = {};
    for (const [k, check] of Object.entries(shape)) {
      const fieldPath = path ? `${path}.${k}` : k;
      const value = Object.hasOwn(o, k) ? o[k] : undefined;
      if (value === undefined && !(check as Partial<OptionalMark>).optional) {
        throw new FieldError(fieldPath, "is required");
      }
      const checked = check(value, fieldPath);
      if (checked !== undefined) out[k] = checked;
    }
    return out as ObjectOf<S>;
  };
}

/** The fields an object may hold, for the error that names one it may not: a typo is then plain to see. */
function knownFields(shape: Shape): string {
  const names = Object.keys(shape);
  return names.length <= 16 ? names.join(", ") : `${names.slice(0, 16).join(", ")}, …`;
}

/** A union discriminated by a string field: picks the branch by the tag, so errors name the right fields. */
export function tagged<K extends string, B extends Record<string, Check<unknown>>>(
  tag: K,
  branches: B,
): Check<Infer<B[keyof B]>> {
  return (v, path) => {
    const o = plainObject(v, path);
    const t = o[tag];
    if (typeof t !== "string" || !Object.hasOwn(branches, t)) {
      throw new FieldError(
        path ? `${path}.${tag}` : tag,
        `${describe(t)} is not one of ${Object.keys(branches)
          .map((x) => JSON.stringify(x))
          .join(", ")}`,
      );
    }
    return branches[t]!(v, path) as Infer<B[keyof B]>;
  };
}
