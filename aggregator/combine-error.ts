/** Why per-TRE outputs could not be combined; one table so programs classify by code, never by text. */
export const CombineErrorCode = {
  /** Nothing to combine. */
  noOutputs: "no_outputs",
  /** The same TRE appears twice. */
  duplicateTre: "duplicate_tre",
  /** The outputs are of different kinds (a count and a summary…). */
  kindMismatch: "kind_mismatch",
  /** The outputs answer different analyses (another dataset, filter, column…). */
  analysisMismatch: "analysis_mismatch",
  /** Same analysis, but the statistic's layout differs: histogram bins, regression terms, group columns. */
  shapeMismatch: "shape_mismatch",
  /** An output's rounding base is not a positive integer. */
  badRounding: "bad_rounding",
  /** The pooled X'X is singular: some term is constant zero or a linear combination of the others. */
  singularMatrix: "singular_matrix",
} as const;
export type CombineErrorCode = (typeof CombineErrorCode)[keyof typeof CombineErrorCode];

export class CombineError extends Error {
  override readonly name = "CombineError";
  readonly code: CombineErrorCode;
  /** The TRE whose output is at fault, when one is. */
  readonly tre: string | undefined;
  /** The field or regression term at fault, when one is. */
  readonly field: string | undefined;

  constructor(
    code: CombineErrorCode,
    message: string,
    options: { tre?: string; field?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.tre = options.tre;
    this.field = options.field;
  }
}
