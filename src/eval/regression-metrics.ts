/**
 * Scores of a Gaussian predictive for regression: per example a mean μᵢ and a predictive variance σᵢ² (including
 * observation noise), against targets yᵢ. Arrays are flat and aligned (n·d values for d-dimensional targets, each
 * output scored independently).
 */
import { BayescompError } from '../util/errors.js';
import { normalCdf } from '../util/special-functions.js';

function checkAligned(...arrays: ArrayLike<number>[]): number {
  const n = arrays[0].length;
  if (n === 0) throw new BayescompError('bad-shape', 'no targets to evaluate');
  for (const a of arrays) {
    if (a.length !== n)
      throw new BayescompError('bad-shape', `arrays of lengths ${n} and ${a.length} do not align`);
  }
  return n;
}

/** Mean Gaussian negative log-likelihood (1/n) Σᵢ [½ log(2π σᵢ²) + (yᵢ − μᵢ)² / (2σᵢ²)], in nats. */
export function gaussianNll(
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  target: ArrayLike<number>,
): number {
  const n = checkAligned(mean, variance, target);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = variance[i];
    if (!(v > 0))
      throw new BayescompError('bad-shape', `predictive variance ${v} of output ${i} is not positive`);
    const d = target[i] - mean[i];
    sum += 0.5 * (Math.log(2 * Math.PI * v) + (d * d) / v);
  }
  return sum / n;
}

/** Root-mean-square error √((1/n) Σᵢ (yᵢ − μᵢ)²). */
export function rmse(mean: ArrayLike<number>, target: ArrayLike<number>): number {
  const n = checkAligned(mean, target);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += (target[i] - mean[i]) ** 2;
  return Math.sqrt(sum / n);
}

/**
 * The standard normal quantile Φ⁻¹(p), by safeguarded Newton iteration on Φ (from `util/special-functions`), so
 * it is as accurate as Φ itself (relative error ~1e-7).
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    if (p === 0) return -Infinity;
    if (p === 1) return Infinity;
    throw new RangeError(`normal quantile needs p in [0, 1], got ${p}`);
  }
  let lo = -40;
  let hi = 40;
  // Start from the logistic approximation Φ⁻¹(p) ≈ log(p / (1 − p)) / 1.702.
  let x = Math.log(p / (1 - p)) / 1.702;
  for (let iter = 0; iter < 100; iter++) {
    const f = normalCdf(x) - p;
    if (f > 0) hi = x;
    else lo = x;
    const density = Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    let next = x - f / density;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - x) < 1e-14 * Math.max(1, Math.abs(x))) return next;
    x = next;
  }
  return x;
}

/** Empirical coverage of the central interval at one nominal level. */
export interface IntervalCoverage {
  /** Nominal probability of the central interval, e.g. 0.95. */
  readonly level: number;
  /** Fraction of targets inside μ ± z σ with z = Φ⁻¹((1 + level) / 2). */
  readonly coverage: number;
  /** Mean interval width 2zσ. */
  readonly meanWidth: number;
}

/**
 * Coverage of central Gaussian predictive intervals μᵢ ± Φ⁻¹((1 + level)/2)·σᵢ at each nominal level; a calibrated
 * predictive covers each level's fraction of targets.
 */
export function intervalCoverage(
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  target: ArrayLike<number>,
  levels: readonly number[] = [0.5, 0.9, 0.95],
): IntervalCoverage[] {
  const n = checkAligned(mean, variance, target);
  return levels.map((level) => {
    if (!(level > 0 && level < 1))
      throw new BayescompError('bad-config', `coverage level ${level} not in (0, 1)`);
    const z = normalQuantile((1 + level) / 2);
    let inside = 0;
    let width = 0;
    for (let i = 0; i < n; i++) {
      const half = z * Math.sqrt(variance[i]);
      if (Math.abs(target[i] - mean[i]) <= half) inside++;
      width += 2 * half;
    }
    return { level, coverage: inside / n, meanWidth: width / n };
  });
}

/** Figures of a Gaussian regression predictive, from {@link regressionMetrics}. */
export interface RegressionMetrics {
  /** Mean Gaussian negative log-likelihood, nats. */
  readonly nll: number;
  readonly rmse: number;
  /** Coverage of the central intervals at each nominal level. */
  readonly coverage: IntervalCoverage[];
  /** Number of scored outputs (examples × output dimensions). */
  readonly n: number;
}

/** Gaussian NLL, RMSE and interval coverage of a regression predictive in one call. */
export function regressionMetrics(
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  target: ArrayLike<number>,
  levels: readonly number[] = [0.5, 0.9, 0.95],
): RegressionMetrics {
  return {
    nll: gaussianNll(mean, variance, target),
    rmse: rmse(mean, target),
    coverage: intervalCoverage(mean, variance, target, levels),
    n: mean.length,
  };
}
