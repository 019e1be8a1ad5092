/**
 * Linear regression from pooled sufficient statistics. The ordinary least squares fit on rows X, y
 * depends on the rows only through X'X, X'y, y'y and n, and each of these is a sum over rows. Stacking
 * the TREs' rows therefore gives X'X = Σ X'ᵢXᵢ, X'y = Σ X'ᵢyᵢ, y'y = Σ y'ᵢyᵢ, n = Σ nᵢ, and the fit
 * below is the pooled-rows fit, not an approximation of it (up to floating-point summation order):
 *
 *   b  = (X'X)⁻¹ X'y                       (symmetric-solve.ts: scaled Cholesky)
 *   RSS = y'y − b'X'y                      (= ‖y − Xb‖², since X'Xb = X'y)
 *   σ² = RSS / (n − p),  SE(bⱼ) = √(σ²·[(X'X)⁻¹]ⱼⱼ),  t = bⱼ / SE(bⱼ)
 *   R² = 1 − RSS / (y'y − (Σy)²/n)          with an intercept, where Σy = (X'y)₀.
 *
 * Each TRE's own fit comes from its own statistics the same way; a TRE whose rows alone cannot be
 * fitted (too few, or collinear there) gets a `problem` instead of a fit, while a singular pooled
 * X'X is an error: there is no combined answer to give.
 */
import type { RegressionOutput } from "../protocol/index.js";
import { CombineError, CombineErrorCode } from "./combine-error.js";
import type { RegressionFit, RegressionResult, TreOutput, TreRegression } from "./combined-result.js";
import { factorSpd, inverseDiagonal, solveSpd } from "./symmetric-solve.js";

interface Sufficient {
  terms: readonly string[];
  intercept: boolean;
  n: number;
  xtx: readonly (readonly number[])[];
  xty: readonly number[];
  yty: number;
}

/** Fits OLS from sufficient statistics; throws CombineError `singular_matrix` naming the dependent term. */
export function fitFromSufficient(s: Sufficient, tre?: string): RegressionFit {
  const p = s.terms.length;
  const factored = factorSpd(s.xtx);
  if ("dependent" in factored) {
    const term = s.terms[factored.dependent] ?? `#${factored.dependent}`;
    const where = tre === undefined ? "pooled X'X" : `X'X of ${tre}`;
    throw new CombineError(
      CombineErrorCode.singularMatrix,
      s.n < p
        ? `${where} is singular: ${s.n} rows for ${p} terms`
        : `${where} is singular: term ${JSON.stringify(term)} is constant zero or a linear combination of the terms before it`,
      { field: term, ...(tre === undefined ? {} : { tre }) },
    );
  }
  const b = solveSpd(factored.factor, s.xty);
  const explained = b.reduce((acc, bj, j) => acc + bj * (s.xty[j] ?? 0), 0);
  // Rounding can push an exact fit's RSS a hair below zero; a sum of squares is never negative.
  const rss = Math.max(0, s.yty - explained);
  const df = s.n - p;
  const sigma2 = df > 0 ? rss / df : null;
  const inv = inverseDiagonal(factored.factor);
  const coefficients = s.terms.map((term, j) => {
    const estimate = b[j] ?? 0;
    const se = sigma2 === null ? null : Math.sqrt(sigma2 * (inv[j] ?? 0));
    return { term, estimate, se, t: se === null || se === 0 ? null : estimate / se };
  });
  let r2: number | null = null;
  if (s.intercept && s.n > 0) {
    const tss = s.yty - (s.xty[0] ?? 0) ** 2 / s.n;
    if (tss > 0) r2 = 1 - rss / tss;
  }
  return { n: s.n, df, coefficients, rss, sigma2, r2 };
}

function addMatrices(a: readonly (readonly number[])[], b: readonly (readonly number[])[]): number[][] {
  return a.map((row, i) => row.map((v, j) => v + (b[i]?.[j] ?? 0)));
}

export function combineRegressions(
  parts: readonly TreOutput<RegressionOutput>[],
): Omit<RegressionResult, "dataset" | "analysis"> {
  const first = parts[0]?.output;
  if (!first) throw new CombineError(CombineErrorCode.noOutputs, "no regression outputs to combine");
  const p = first.terms.length;
  let xtx: number[][] = first.terms.map(() => new Array<number>(p).fill(0));
  let xty = new Array<number>(p).fill(0);
  let yty = 0;
  let n = 0;
  let dropped = 0;
  const byTre: Record<string, TreRegression> = {};
  const notes: string[] = [];
  for (const { tre, output } of parts) {
    xtx = addMatrices(xtx, output.xtx);
    xty = xty.map((v, i) => v + (output.xty[i] ?? 0));
    yty += output.yty;
    n += output.n;
    dropped += output.dropped;
    byTre[tre] = fitAlone(tre, output);
    const problem = byTre[tre]?.problem;
    if (problem) notes.push(`${tre} alone: ${problem}`);
  }
  const combined = fitFromSufficient({ terms: first.terms, intercept: first.intercept, n, xtx, xty, yty });
  if (combined.sigma2 === null)
    notes.push(`no residual degrees of freedom (${n} rows, ${p} terms): no standard errors`);
  return {
    kind: "regression",
    tres: parts.map((x) => x.tre),
    notes,
    outcome: first.outcome,
    predictors: [...first.predictors],
    intercept: first.intercept,
    terms: [...first.terms],
    n,
    dropped,
    combined,
    byTre,
  };
}

function fitAlone(tre: string, output: RegressionOutput): TreRegression {
  try {
    return { n: output.n, dropped: output.dropped, fit: fitFromSufficient(output, tre), problem: null };
  } catch (e) {
    if (!(e instanceof CombineError)) throw e;
    return { n: output.n, dropped: output.dropped, fit: null, problem: e.message };
  }
}
