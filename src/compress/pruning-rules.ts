import { BayescompError } from '../util/errors.js';
import { normalCdf } from '../util/special-functions.js';
import type { WeightPosterior } from './weight-posterior.js';

/** The posterior-based pruning criteria bayescomp implements, plus the magnitude baseline. */
export type PruningCriterion =
  /** Sparse VD (Molchanov 2017): prune when log α ≥ threshold (3 in the paper). */
  | 'log-alpha'
  /** Signal-to-noise (Graves 2011; seed 000): prune when |μ|/σ < threshold. */
  | 'snr'
  /** Relative density (seed 003, Graves): prune when q(0)/q(μ) = exp(−μ²/2σ²) ≥ threshold. */
  | 'density-ratio'
  /** Posterior mass near zero: prune when P(|w| < ε) = Φ((ε−μ)/σ) − Φ((−ε−μ)/σ) ≥ threshold. */
  | 'mass-near-zero'
  /**
   * Savage–Dickey: the Bayes factor for w = 0 against the Gaussian prior N(0, 1/τ) is q(0)/p(0), so
   * log BF₀₁ = ½ log(1/(τσ²)) − μ²/(2σ²); prune when log BF₀₁ > threshold (0: the data favour zero).
   */
  | 'savage-dickey'
  /** Baseline: prune when |μ| < threshold. */
  | 'magnitude';

/** Criteria where a larger statistic means "more prunable" (the rest prune small statistics). */
const PRUNE_WHEN_LARGE: ReadonlySet<PruningCriterion> = new Set([
  'log-alpha',
  'density-ratio',
  'mass-near-zero',
  'savage-dickey',
]);

/** Extra parameters some criteria need. */
export interface CriterionOptions {
  /** Half-width ε of the "near zero" interval for `mass-near-zero`. Default 0.01. */
  readonly epsilon?: number;
}

/**
 * The criterion's statistic for every weight, in the criterion's own units (log α, |μ|/σ, q(0)/q(μ), P(|w|<ε),
 * log BF₀₁, |μ|). Throws when the posterior lacks what the criterion needs.
 */
export function criterionStatistic(
  posterior: WeightPosterior,
  criterion: PruningCriterion,
  options: CriterionOptions = {},
): Float64Array {
  const { mean } = posterior;
  const n = mean.length;
  const out = new Float64Array(n);
  if (criterion === 'magnitude') {
    for (let i = 0; i < n; i++) out[i] = Math.abs(mean[i]);
    return out;
  }
  if (criterion === 'log-alpha') {
    const logAlpha = posterior.logAlpha ?? deriveLogAlpha(posterior);
    for (let i = 0; i < n; i++) out[i] = logAlpha[i];
    return out;
  }
  const variance = requireVariance(posterior, criterion);
  if (criterion === 'snr') {
    for (let i = 0; i < n; i++) out[i] = Math.abs(mean[i]) / Math.sqrt(variance[i]);
  } else if (criterion === 'density-ratio') {
    for (let i = 0; i < n; i++) out[i] = Math.exp((-mean[i] * mean[i]) / (2 * variance[i]));
  } else if (criterion === 'mass-near-zero') {
    const eps = options.epsilon ?? 0.01;
    if (!(eps > 0)) throw new BayescompError('bad-config', `mass-near-zero needs epsilon > 0, got ${eps}`);
    for (let i = 0; i < n; i++) {
      const s = Math.sqrt(variance[i]);
      out[i] = normalCdf((eps - mean[i]) / s) - normalCdf((-eps - mean[i]) / s);
    }
  } else {
    const tau = posterior.priorPrecision;
    if (tau === undefined) {
      throw new BayescompError(
        'bad-config',
        `savage-dickey pruning of ${posterior.name} needs the prior precision`,
      );
    }
    for (let i = 0; i < n; i++) {
      const t = typeof tau === 'number' ? tau : tau[i];
      const v = variance[i];
      out[i] = 0.5 * Math.log(1 / (t * v)) - (mean[i] * mean[i]) / (2 * v);
    }
  }
  return out;
}

/**
 * Importance of each weight for ranking: larger means keep. A monotone transform of {@link criterionStatistic}, so
 * "prune the k least important weights" is the same as thresholding the statistic.
 */
export function importance(
  posterior: WeightPosterior,
  criterion: PruningCriterion,
  options: CriterionOptions = {},
): Float64Array {
  const stat = criterionStatistic(posterior, criterion, options);
  if (PRUNE_WHEN_LARGE.has(criterion)) for (let i = 0; i < stat.length; i++) stat[i] = -stat[i];
  return stat;
}

/**
 * The keep-mask (1 = keep, 0 = prune) of one tensor under a fixed threshold in the criterion's units, with the
 * criterion's own comparison (e.g. log α ≥ 3 prunes; |μ|/σ < λ prunes).
 */
export function pruneMask(
  posterior: WeightPosterior,
  criterion: PruningCriterion,
  threshold: number,
  options: CriterionOptions = {},
): Uint8Array {
  const stat = criterionStatistic(posterior, criterion, options);
  const mask = new Uint8Array(stat.length);
  const large = PRUNE_WHEN_LARGE.has(criterion);
  const strict = criterion === 'savage-dickey';
  for (let i = 0; i < stat.length; i++) {
    const s = stat[i];
    const prune = large ? (strict ? s > threshold : s >= threshold) : s < threshold;
    mask[i] = prune || Number.isNaN(s) ? 0 : 1;
  }
  return mask;
}

/** The default threshold of each criterion, from the papers. */
export const DEFAULT_THRESHOLDS: Readonly<Record<PruningCriterion, number>> = {
  'log-alpha': 3,
  snr: 1,
  'density-ratio': Math.exp(-0.5),
  'mass-near-zero': 0.5,
  'savage-dickey': 0,
  magnitude: 1e-3,
};

function requireVariance(posterior: WeightPosterior, criterion: PruningCriterion): Float32Array {
  if (posterior.variance) return posterior.variance;
  if (posterior.logAlpha) {
    // Sparse VD's posterior is N(θ, α θ²): its variance follows from θ and log α.
    const v = new Float32Array(posterior.mean.length);
    for (let i = 0; i < v.length; i++) v[i] = Math.exp(posterior.logAlpha[i]) * posterior.mean[i] ** 2;
    return v;
  }
  throw new BayescompError(
    'bad-config',
    `${criterion} pruning of ${posterior.name} needs posterior variances`,
  );
}

function deriveLogAlpha(posterior: WeightPosterior): Float32Array {
  const variance = posterior.variance;
  if (!variance)
    throw new BayescompError('bad-config', `log-alpha pruning of ${posterior.name} needs log α or variances`);
  const out = new Float32Array(variance.length);
  for (let i = 0; i < out.length; i++)
    out[i] = Math.log(variance[i]) - Math.log(posterior.mean[i] ** 2 + 1e-8);
  return out;
}
