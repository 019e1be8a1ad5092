/**
 * What a researcher may ask a TRE to run. Built-in analyses are declarative: names of a
 * dataset and its columns plus typed filter values; the TRE compiles them to parameterised
 * SQL over its own allow-list, so no researcher-written SQL ever reaches a database.
 * A container analysis names an image by digest; the TRE runs it only if allow-listed.
 */
import {
  arr,
  bool,
  type Check,
  type Infer,
  int,
  literal,
  num,
  obj,
  optional,
  record,
  str,
  tagged,
} from "./validate.js";

/** Dataset and column names: plain identifiers, so they can never carry SQL. */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const ident = str({ min: 1, max: 63, pattern: IDENTIFIER, what: "an identifier (letters, digits, _)" });

const scalar: Check<string | number | boolean> = (v, path) => {
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return num()(v, path);
  return str({ max: 256 })(v, path);
};

const filterOps = ["eq", "ne", "lt", "le", "gt", "ge", "in", "between", "is_null", "not_null"] as const;

const filter = obj({
  column: ident,
  op: literal(...filterOps),
  value: optional((v, path) => (Array.isArray(v) ? arr(scalar, { max: 1000 })(v, path) : scalar(v, path))),
});
export type Filter = Infer<typeof filter>;

const filters = optional(arr(filter, { max: 32 }));
const groupBy = optional(arr(ident, { max: 4, unique: true }));

const count = obj({ kind: literal("count"), dataset: ident, filters, groupBy });
const summary = obj({ kind: literal("summary"), dataset: ident, column: ident, filters, groupBy });
const histogram = obj({
  kind: literal("histogram"),
  dataset: ident,
  column: ident,
  bins: obj({ min: num(), max: num(), count: int({ min: 1, max: 1000 }) }),
  filters,
});
const crosstab = obj({ kind: literal("crosstab"), dataset: ident, rows: ident, cols: ident, filters });
const regression = obj({
  kind: literal("regression"),
  dataset: ident,
  outcome: ident,
  predictors: arr(ident, { min: 1, max: 32, unique: true }),
  intercept: optional(bool()),
  filters,
});

/** `name@sha256:<64 hex>`: images are pinned by digest, never by a mutable tag. */
export const IMAGE_REF = /^[a-z0-9][a-z0-9._/-]{0,200}@sha256:[0-9a-f]{64}$/;
const container = obj({
  kind: literal("container"),
  image: str({ max: 300, pattern: IMAGE_REF, what: "an image pinned by digest (name@sha256:…)" }),
  command: arr(str({ max: 4096 }), { max: 256 }),
  env: optional(
    record(str({ max: 128, pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ }), str({ max: 4096 }), { max: 64 }),
  ),
  datasets: optional(arr(ident, { max: 16, unique: true })),
});

export const analysisSpec = tagged("kind", { count, summary, histogram, crosstab, regression, container });
export type AnalysisSpec = Infer<typeof analysisSpec>;
export type AnalysisKind = AnalysisSpec["kind"];
