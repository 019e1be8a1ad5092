/**
 * Solving with a symmetric positive definite matrix (a regression's X'X) by Cholesky factorisation.
 *
 * The matrix is first scaled to unit diagonal, S = D·A·D with D = diag(1/√aᵢᵢ): columns on very
 * different scales (an intercept beside a column in the thousands) then cannot make a small pivot look
 * large. In the scaled matrix the k-th pivot is 1 − R²ₖ, the share of term k not explained by the
 * terms before it, so a pivot below `DEPENDENCE_TOLERANCE` names a term that is constant zero or (to
 * within double precision) a linear combination of the others: the matrix is singular for our purposes.
 * One step of iterative refinement then recovers most digits lost to the remaining ill-conditioning.
 */

/** Smallest admissible pivot of the unit-diagonal matrix (1 − R² of a term on the terms before it). */
const DEPENDENCE_TOLERANCE = 1e-10;

export interface SpdFactor {
  readonly size: number;
  /** The original matrix, for refinement. */
  readonly a: readonly (readonly number[])[];
  /** 1/√aᵢᵢ. */
  readonly scale: readonly number[];
  /** Lower-triangular L with S = L·Lᵀ, row-major. */
  readonly lower: readonly (readonly number[])[];
}

/** Factors `a`; on failure returns the index of the first dependent (or all-zero) term. */
export function factorSpd(a: readonly (readonly number[])[]): { factor: SpdFactor } | { dependent: number } {
  const p = a.length;
  const scale: number[] = [];
  for (let i = 0; i < p; i++) {
    const d = a[i]?.[i] ?? 0;
    if (!(d > 0) || !Number.isFinite(d)) return { dependent: i };
    scale.push(1 / Math.sqrt(d));
  }
  const s = (i: number, j: number) => (a[i]?.[j] ?? 0) * (scale[i] ?? 0) * (scale[j] ?? 0);
  const lower: number[][] = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (let j = 0; j < p; j++) {
    const lj = lower[j] as number[];
    let pivot = s(j, j);
    for (let k = 0; k < j; k++) pivot -= (lj[k] ?? 0) ** 2;
    if (!(pivot > DEPENDENCE_TOLERANCE)) return { dependent: j };
    const root = Math.sqrt(pivot);
    lj[j] = root;
    for (let i = j + 1; i < p; i++) {
      const li = lower[i] as number[];
      let v = s(i, j);
      for (let k = 0; k < j; k++) v -= (li[k] ?? 0) * (lj[k] ?? 0);
      li[j] = v / root;
    }
  }
  return { factor: { size: p, a, scale, lower } };
}

/** L·z = y. */
function forward(f: SpdFactor, y: readonly number[]): number[] {
  const z = new Array<number>(f.size).fill(0);
  for (let i = 0; i < f.size; i++) {
    const li = f.lower[i] ?? [];
    let v = y[i] ?? 0;
    for (let k = 0; k < i; k++) v -= (li[k] ?? 0) * (z[k] ?? 0);
    z[i] = v / (li[i] ?? 1);
  }
  return z;
}

/** Lᵀ·w = z. */
function backward(f: SpdFactor, z: readonly number[]): number[] {
  const w = new Array<number>(f.size).fill(0);
  for (let i = f.size - 1; i >= 0; i--) {
    let v = z[i] ?? 0;
    for (let k = i + 1; k < f.size; k++) v -= (f.lower[k]?.[i] ?? 0) * (w[k] ?? 0);
    w[i] = v / (f.lower[i]?.[i] ?? 1);
  }
  return w;
}

/** A⁻¹·b through the scaled factor: x = D·S⁻¹·D·b. */
function solveOnce(f: SpdFactor, b: readonly number[]): number[] {
  const db = b.map((v, i) => v * (f.scale[i] ?? 0));
  return backward(f, forward(f, db)).map((v, i) => v * (f.scale[i] ?? 0));
}

/** Solves A·x = b, with one step of iterative refinement. */
export function solveSpd(f: SpdFactor, b: readonly number[]): number[] {
  const x = solveOnce(f, b);
  const residual = b.map((bi, i) => {
    let r = bi;
    const ai = f.a[i] ?? [];
    for (let j = 0; j < f.size; j++) r -= (ai[j] ?? 0) * (x[j] ?? 0);
    return r;
  });
  const dx = solveOnce(f, residual);
  return x.map((v, i) => v + (dx[i] ?? 0));
}

/** The diagonal of A⁻¹: (A⁻¹)ⱼⱼ = dⱼ²·‖L⁻¹eⱼ‖², since S⁻¹ = L⁻ᵀL⁻¹. */
export function inverseDiagonal(f: SpdFactor): number[] {
  return Array.from({ length: f.size }, (_, j) => {
    const e = new Array<number>(f.size).fill(0);
    e[j] = 1;
    const u = forward(f, e);
    return (f.scale[j] ?? 0) ** 2 * u.reduce((s, v) => s + v * v, 0);
  });
}
