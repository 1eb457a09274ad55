import { BayescompError } from '../../util/errors.js';

/**
 * Rényi divergence of order α between two Gaussians with a common mean, q = N(m, diag(s²)) and p = N(m, Σ), in the
 * convention of Li & Turner (2016): D_α(q ‖ p) = 1/(α − 1) · log ∫ q^α p^(1−α). In closed form (Gil, Alajaji &
 * Linder 2013, Table 2), with Σ_α = α Σ + (1 − α) diag(s²):
 *
 *   D_α = −1/(2(α − 1)) · log( |Σ_α| / (|diag(s²)|^(1−α) |Σ|^α) ),
 *
 * finite only when Σ_α is positive definite (q must sit inside p for α > 1 and cover it for α < 0). Returns
 * `Infinity` otherwise. Plain float64 for 2×2 covariances (the Rényi picture).
 */
export function gaussianRenyiDivergence2d(
  variances: readonly [number, number],
  covariance: readonly [readonly [number, number], readonly [number, number]],
  alpha: number,
): number {
  const [[a, b], [, d]] = covariance;
  const s00 = alpha * a + (1 - alpha) * variances[0];
  const s11 = alpha * d + (1 - alpha) * variances[1];
  const s01 = alpha * b;
  const detAlpha = s00 * s11 - s01 * s01;
  if (!(s00 > 0 && detAlpha > 0)) return Number.POSITIVE_INFINITY;
  const detQ = variances[0] * variances[1];
  const detP = a * d - b * b;
  const logRatio = Math.log(detAlpha) - (1 - alpha) * Math.log(detQ) - alpha * Math.log(detP);
  return (-1 / (2 * (alpha - 1))) * logRatio;
}

/**
 * The factorised Gaussian (means fixed at p's) that minimises D_α(q ‖ p) — the K → ∞ optimum of the VR-α bound,
 * since L_α = log p(D) − D_α(q ‖ p(·|D)). α = 1 uses KL(q ‖ p) (the conditional variances); α = 0 is the limit
 * D_α/α → KL(p ‖ q), moment matching (the marginal variances); near 0, D_α/α is minimised. For finite α < 0 the
 * divergence is unbounded below as q widens (no optimum), so only α = −∞ is accepted there: the limit of the
 * feasibility condition (1 − α)S − (−α)Σ ≻ 0 is S ⪰ Σ, and the member returned is the smallest factorised Gaussian
 * that encloses p (the "encapsulation" of seed 000's picture), see {@link enclosingFactorisedStd}. Otherwise
 * Nelder–Mead over the log standard deviations. Returns the standard deviations.
 */
export function renyiOptimalFactorisedStd(
  covariance: readonly [readonly [number, number], readonly [number, number]],
  alpha: number,
): [number, number] {
  if (alpha === Number.NEGATIVE_INFINITY) return enclosingFactorisedStd(covariance);
  if (alpha === 0) return [Math.sqrt(covariance[0][0]), Math.sqrt(covariance[1][1])];
  if (alpha < 0) {
    throw new BayescompError(
      'bad-config',
      `D_α(q ‖ p) has no minimiser over Gaussians for finite α < 0 (got ${alpha})`,
    );
  }
  const objective = (logStd: readonly number[]): number => {
    const variances: [number, number] = [Math.exp(2 * logStd[0]), Math.exp(2 * logStd[1])];
    if (alpha === 1) {
      // KL(q ‖ p) for equal means: ½ [tr(Σ⁻¹ S) − 2 + log |Σ| − log |S|].
      const [[a, b], [, d]] = covariance;
      const det = a * d - b * b;
      const trace = (d * variances[0] + a * variances[1]) / det;
      return 0.5 * (trace - 2 + Math.log(det) - Math.log(variances[0] * variances[1]));
    }
    const value = gaussianRenyiDivergence2d(variances, covariance, alpha);
    return Math.abs(alpha) < 1e-2 ? value / alpha : value;
  };
  // Start from the marginal standard deviations, scaled into the feasible region for α > 1.
  const start = [0.5 * Math.log(covariance[0][0]), 0.5 * Math.log(covariance[1][1])].map((v) =>
    alpha > 1 ? v - 1.5 : alpha < 0 ? v + 1 : v,
  );
  const best = nelderMead(objective, start);
  return [Math.exp(best[0]), Math.exp(best[1])];
}

/**
 * The smallest (least |S|) diagonal covariance S with S ⪰ Σ: minimising log s₁ + log s₂ subject to
 * (s₁ − Σ₁₁)(s₂ − Σ₂₂) = Σ₁₂² gives s₁ = Σ₁₁ + |Σ₁₂|·√(Σ₁₁/Σ₂₂), s₂ = Σ₂₂ + |Σ₁₂|·√(Σ₂₂/Σ₁₁) (Lagrange condition).
 * Returns the standard deviations.
 */
export function enclosingFactorisedStd(
  covariance: readonly [readonly [number, number], readonly [number, number]],
): [number, number] {
  const [[a, b], [, d]] = covariance;
  const offDiagonal = Math.abs(b);
  return [Math.sqrt(a + offDiagonal * Math.sqrt(a / d)), Math.sqrt(d + offDiagonal * Math.sqrt(d / a))];
}

/** A plain Nelder–Mead minimiser for small, smooth problems (standard coefficients 1, 2, ½, ½). */
function nelderMead(
  f: (x: readonly number[]) => number,
  start: readonly number[],
  iterations = 2000,
): number[] {
  const n = start.length;
  let simplex = [start.slice()];
  for (let i = 0; i < n; i++) {
    const p = start.slice();
    p[i] += 0.3;
    simplex.push(p);
  }
  let values = simplex.map(f);
  for (let it = 0; it < iterations; it++) {
    const order = values.map((v, i) => i).sort((i, j) => values[i] - values[j]);
    simplex = order.map((i) => simplex[i]);
    values = order.map((i) => values[i]);
    if (Math.abs(values[n] - values[0]) < 1e-14 && it > 50) break;
    const centroid = new Array<number>(n).fill(0);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += simplex[i][j] / n;
    const along = (t: number) => centroid.map((c, j) => c + t * (simplex[n][j] - c));
    const reflected = along(-1);
    const fr = f(reflected);
    if (fr < values[0]) {
      const expanded = along(-2);
      const fe = f(expanded);
      [simplex[n], values[n]] = fe < fr ? [expanded, fe] : [reflected, fr];
    } else if (fr < values[n - 1]) {
      [simplex[n], values[n]] = [reflected, fr];
    } else {
      const contracted = along(0.5);
      const fc = f(contracted);
      if (fc < values[n]) {
        [simplex[n], values[n]] = [contracted, fc];
      } else {
        for (let i = 1; i <= n; i++) {
          simplex[i] = simplex[i].map((v, j) => simplex[0][j] + 0.5 * (v - simplex[0][j]));
          values[i] = f(simplex[i]);
        }
      }
    }
  }
  return simplex[values.indexOf(Math.min(...values))];
}
