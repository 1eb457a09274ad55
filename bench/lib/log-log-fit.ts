/**
 * Fits for a scaling study: the power law y ≈ a·x^b (least-squares line through (log x, log y), whose slope b is the
 * fitted exponent) and the affine law y ≈ c + d·x (fixed cost c plus cost d per unit), which tells a fixed overhead
 * apart from a superlinear cost when b < 1.
 */

/** A fitted power law y ≈ a·x^b. */
export interface PowerLawFit {
  /** The exponent b: least-squares slope of log y on log x. */
  readonly exponent: number;
  /** The prefactor a = exp(intercept). */
  readonly prefactor: number;
  /** Coefficient of determination of the log-log fit (1 = the points lie on a power law). */
  readonly r2: number;
}

/**
 * Ordinary least squares of log y on log x: b = Σ(u−ū)(v−v̄) / Σ(u−ū)² with u = log x, v = log y. Needs at least two
 * distinct positive x and positive y; returns NaNs otherwise.
 */
export function fitPowerLaw(x: readonly number[], y: readonly number[]): PowerLawFit {
  const nan = { exponent: NaN, prefactor: NaN, r2: NaN };
  if (x.length !== y.length || x.length < 2) return nan;
  if (![...x, ...y].every((v) => v > 0 && Number.isFinite(v))) return nan;
  const u = x.map(Math.log);
  const v = y.map(Math.log);
  const mean = (a: readonly number[]) => a.reduce((s, t) => s + t, 0) / a.length;
  const uBar = mean(u);
  const vBar = mean(v);
  let suu = 0;
  let suv = 0;
  let svv = 0;
  for (let i = 0; i < u.length; i++) {
    suu += (u[i] - uBar) ** 2;
    suv += (u[i] - uBar) * (v[i] - vBar);
    svv += (v[i] - vBar) ** 2;
  }
  if (suu === 0) return nan;
  const exponent = suv / suu;
  // With every y equal the line is flat and fits exactly.
  const r2 = svv === 0 ? 1 : (suv * suv) / (suu * svv);
  return { exponent, prefactor: Math.exp(vBar - exponent * uBar), r2 };
}

/** A fitted affine law y ≈ fixed + perUnit·x. */
export interface AffineFit {
  readonly fixed: number;
  readonly perUnit: number;
}

/** Ordinary least squares of y on x: perUnit = Σ(x−x̄)(y−ȳ) / Σ(x−x̄)², fixed = ȳ − perUnit·x̄. NaNs if x is constant. */
export function fitAffine(x: readonly number[], y: readonly number[]): AffineFit {
  if (x.length !== y.length || x.length < 2) return { fixed: NaN, perUnit: NaN };
  const xBar = x.reduce((s, t) => s + t, 0) / x.length;
  const yBar = y.reduce((s, t) => s + t, 0) / y.length;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < x.length; i++) {
    sxx += (x[i] - xBar) ** 2;
    sxy += (x[i] - xBar) * (y[i] - yBar);
  }
  if (sxx === 0) return { fixed: NaN, perUnit: NaN };
  const perUnit = sxy / sxx;
  return { fixed: yBar - perUnit * xBar, perUnit };
}
