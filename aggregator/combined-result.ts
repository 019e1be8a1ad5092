/**
 * What combining per-TRE outputs gives: per kind, each TRE's released values next to the combined
 * ones, with every count as an Interval (exact when low === high). These types are also the JSON the
 * aggregator prints (see render-json.ts), so fields are only ever added, never renamed.
 */
import type { AnalysisOutput, AnalysisSpec, CellKey, KeyValue } from "../protocol/index.js";
import type { Interval } from "./interval.js";

/** One TRE's output, the unit combining starts from. */
export interface TreOutput<O extends AnalysisOutput = AnalysisOutput> {
  tre: string;
  output: O;
}

interface ResultBase {
  dataset: string;
  /** The analysis every combined output answers. */
  analysis: AnalysisSpec;
  /** The TREs combined, in the order given; every `byTre` lists them in this order. */
  tres: string[];
  /** For people: what the combined numbers leave out or could not compute. */
  notes: string[];
}

/** One count: each TRE's bounds and the bounds on their sum. */
export interface CountCell {
  byTre: Record<string, Interval>;
  combined: Interval;
}

export interface CountResult extends ResultBase {
  kind: "count";
  groupBy: string[];
  /** Over the union of the TREs' groups, in `compareKeys` order; a TRE without a group counts 0 there. */
  cells: (CountCell & { key: CellKey })[];
}

export interface CrosstabResult extends ResultBase {
  kind: "crosstab";
  rows: string;
  cols: string;
  /** Union of the TREs' keys, in `compareKeyValues` order. */
  rowKeys: KeyValue[];
  colKeys: KeyValue[];
  /** `cells[r][c]` for `rowKeys[r]`, `colKeys[c]`. */
  cells: CountCell[][];
}

export interface HistogramResult extends ResultBase {
  kind: "histogram";
  column: string;
  bins: { min: number; max: number; count: number };
  /** The `count + 1` bin edges; bin i is [edges[i], edges[i+1]), the last one closed. */
  edges: number[];
  counts: CountCell[];
  below: CountCell;
  above: CountCell;
  missing: CountCell;
}

/** n (as bounds), mean and sample variance of one group; mean null when n is 0, variance when n < 2. */
export interface SummaryStat {
  n: Interval;
  mean: number | null;
  variance: number | null;
}

export interface SummaryCell {
  key: CellKey;
  /** `withheld`: the TRE suppressed this group; n is then bounds only and mean, variance null. */
  byTre: Record<string, SummaryStat & { withheld: boolean }>;
  /** Pooled over the TREs that released the group; `leftOut` names those that withheld it. */
  combined: SummaryStat & { leftOut: string[] };
}

export interface SummaryResult extends ResultBase {
  kind: "summary";
  column: string;
  groupBy: string[];
  cells: SummaryCell[];
}

export interface Coefficient {
  term: string;
  estimate: number;
  /** Standard error; null when there are no residual degrees of freedom. */
  se: number | null;
  /** estimate / se; null when se is null or 0. */
  t: number | null;
}

/** An ordinary least squares fit from sufficient statistics. */
export interface RegressionFit {
  n: number;
  /** Residual degrees of freedom, n − p. */
  df: number;
  coefficients: Coefficient[];
  /** Residual sum of squares. */
  rss: number;
  /** Residual variance rss / df; null when df ≤ 0. */
  sigma2: number | null;
  /** 1 − rss / total SS about the mean; null without an intercept or when y is constant. */
  r2: number | null;
}

export interface TreRegression {
  n: number;
  dropped: number;
  /** The fit on this TRE's rows alone; null when it cannot be made (`problem` says why). */
  fit: RegressionFit | null;
  problem: string | null;
}

export interface RegressionResult extends ResultBase {
  kind: "regression";
  outcome: string;
  predictors: string[];
  intercept: boolean;
  terms: string[];
  /** Rows used and rows dropped for nulls, over all TREs. */
  n: number;
  dropped: number;
  /** The fit on the pooled sufficient statistics: identical to a fit on all TREs' rows together. */
  combined: RegressionFit;
  byTre: Record<string, TreRegression>;
}

/** The combination of one output across TREs; discriminated on `kind` like the outputs themselves. */
export type CombinedResult =
  | CountResult
  | CrosstabResult
  | HistogramResult
  | SummaryResult
  | RegressionResult;
