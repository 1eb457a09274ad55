import type { PosteriorStructure } from './structures/posteriorStructure.js';

/**
 * Laplace log marginal likelihood (MacKay 1992; the form laplace-torch uses):
 *
 *   log p(D) ≈ log p(D | θ*) − ½ (log det P − log det P₀ + (θ* − μ₀)ᵀ P₀ (θ* − μ₀)),
 *
 * with P the posterior precision and P₀ = diag(τ) the prior precision over the covered weights, μ₀ = 0. It equals
 * log p(D|θ*) + log p(θ*) + (S/2) log 2π − ½ log det P.
 */
export function laplaceLogMarginalLikelihood(
  dataLogLik: number,
  posterior: PosteriorStructure,
  priorPrecision: ArrayLike<number>,
  theta: ArrayLike<number>,
): number {
  let logDetPrior = 0;
  let scatter = 0;
  for (let i = 0; i < priorPrecision.length; i++) {
    logDetPrior += Math.log(priorPrecision[i]);
    scatter += priorPrecision[i] * theta[i] * theta[i];
  }
  return dataLogLik - 0.5 * (posterior.logDetPrecision() - logDetPrior + scatter);
}

/**
 * Maximises a smooth unimodal-ish function of one variable x ∈ [lo, hi] robustly: a grid of `points` values, then a
 * golden-section refinement between the best grid point's neighbours. Returns the argmax and the value.
 */
export function maximise1d(
  f: (x: number) => number,
  lo: number,
  hi: number,
  points = 25,
  iterations = 30,
): { x: number; value: number } {
  const xs = Array.from({ length: points }, (_, i) => lo + ((hi - lo) * i) / (points - 1));
  const values = xs.map((x) => {
    const v = f(x);
    return Number.isFinite(v) ? v : -Infinity;
  });
  let best = 0;
  for (let i = 1; i < points; i++) if (values[i] > values[best]) best = i;
  let a = xs[Math.max(0, best - 1)];
  let b = xs[Math.min(points - 1, best + 1)];
  const phi = (Math.sqrt(5) - 1) / 2;
  let c = b - phi * (b - a);
  let d = a + phi * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < iterations; i++) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - phi * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + phi * (b - a);
      fd = f(d);
    }
  }
  const x = fc > fd ? c : d;
  const value = Math.max(fc, fd);
  return value >= values[best] ? { x, value } : { x: xs[best], value: values[best] };
}
