import { BayescompError } from '../util/errors.js';
import type { LaplaceLayout } from './model/laplaceLayers.js';
import type { PosteriorStructure } from './structures/posteriorStructure.js';
import { normalCdf } from '../util/special-functions.js';

/** Per-weight pruning evidence from the Laplace marginals q(w_i) = N(μ_i, σ_i²) (seed 000, "Pruning strategy"). */
export interface LaplacePruningScores {
  /** Global indices into the Laplace parameter vector. */
  readonly indices: Int32Array;
  readonly mean: Float64Array;
  readonly variance: Float64Array;
  /** Signal-to-noise |μ|/σ: small means the weight is indistinguishable from zero. */
  readonly snr: Float64Array;
  /** Posterior mass near zero, Φ((ε − μ)/σ) − Φ((−ε − μ)/σ). */
  readonly massNearZero: Float64Array;
  /**
   * Savage–Dickey log Bayes factor for w = 0 against the Gaussian prior N(0, 1/τ): log q(0)/p(0) =
   * ½ log(1/(τσ²)) − μ²/(2σ²); positive favours pruning.
   */
  readonly logBayesFactor: Float64Array;
}

/** The standard normal CDF, shared with the compression rules (src/util/special-functions.ts). */
export { normalCdf };

/** Scores every covered weight from its posterior mean, marginal variance and prior precision. */
export function laplacePruningScores(
  indices: Int32Array,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  priorPrecision: ArrayLike<number>,
  epsilon: number,
): LaplacePruningScores {
  const n = indices.length;
  const snr = new Float64Array(n);
  const massNearZero = new Float64Array(n);
  const logBayesFactor = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const mu = mean[i];
    const v = variance[i];
    const s = Math.sqrt(v);
    snr[i] = Math.abs(mu) / s;
    massNearZero[i] = normalCdf((epsilon - mu) / s) - normalCdf((-epsilon - mu) / s);
    logBayesFactor[i] = 0.5 * Math.log(1 / (priorPrecision[i] * v)) - (mu * mu) / (2 * v);
  }
  return {
    indices,
    mean: Float64Array.from(mean),
    variance: Float64Array.from(variance),
    snr,
    massNearZero,
    logBayesFactor,
  };
}

/** How to turn scores into a mask. */
export interface PruningRule {
  /** `snr`: prune the smallest |μ|/σ; `mass`: the largest mass near zero; `bayesFactor`: the largest log BF. */
  readonly criterion: 'snr' | 'mass' | 'bayesFactor';
  /** Prune this fraction of the covered weights (by rank of the criterion). */
  readonly fraction?: number;
  /** Or prune where snr < threshold, mass > threshold, or log BF > threshold (default 0 for `bayesFactor`). */
  readonly threshold?: number;
}

/** Keep mask over the covered weights (1 = keep), in score order. */
export function pruningMask(scores: LaplacePruningScores, rule: PruningRule): Uint8Array {
  const n = scores.indices.length;
  // Higher "badness" = more prunable.
  const badness =
    rule.criterion === 'snr'
      ? scores.snr.map((v) => -v)
      : rule.criterion === 'mass'
        ? scores.massNearZero
        : scores.logBayesFactor;
  const keep = new Uint8Array(n).fill(1);
  if (rule.fraction !== undefined) {
    if (!(rule.fraction >= 0 && rule.fraction <= 1))
      throw new BayescompError('bad-config', `prune fraction must be in [0, 1]`);
    const order = Int32Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => badness[b] - badness[a] || a - b,
    );
    const k = Math.round(rule.fraction * n);
    for (let i = 0; i < k; i++) keep[order[i]] = 0;
    return keep;
  }
  const threshold = rule.threshold ?? (rule.criterion === 'bayesFactor' ? 0 : undefined);
  if (threshold === undefined)
    throw new BayescompError('bad-config', `pruning by '${rule.criterion}' needs a fraction or threshold`);
  const cut = rule.criterion === 'snr' ? -threshold : threshold;
  for (let i = 0; i < n; i++) if (badness[i] > cut) keep[i] = 0;
  return keep;
}

/**
 * Optimal-Brain-Surgeon update of the kept weights (Hassibi & Stork 1993; the posterior reading of seed 000):
 * conditioning N(μ, Σ) on w_Q = 0 gives the mean μ − Σ_{:,Q} Σ_QQ⁻¹ μ_Q; for one weight, −Σ_{:,q} μ_q/Σ_qq. Σ's columns
 * come from `covarianceTimes`, so any structure works; cost grows with |Q| (limit `maxPruned`).
 */
export function obsUpdate(
  posterior: PosteriorStructure,
  mean: ArrayLike<number>,
  pruned: ArrayLike<number>,
  maxPruned = 2000,
): Float64Array {
  const q = pruned.length;
  const s = posterior.size;
  if (q > maxPruned)
    throw new BayescompError('bad-config', `OBS update of ${q} weights exceeds the limit of ${maxPruned}`);
  const out = Float64Array.from(mean);
  if (q === 0) return out;
  const columns: Float64Array[] = [];
  for (let j = 0; j < q; j++) {
    const e = new Float64Array(s);
    e[pruned[j]] = 1;
    columns.push(posterior.covarianceTimes(e));
  }
  // Solve Σ_QQ c = μ_Q by Gaussian elimination with partial pivoting (Σ_QQ is SPD but may be ill-conditioned).
  const a = new Float64Array(q * q);
  const b = new Float64Array(q);
  for (let i = 0; i < q; i++) {
    b[i] = mean[pruned[i]];
    for (let j = 0; j < q; j++) a[i * q + j] = columns[j][pruned[i]];
  }
  for (let k = 0; k < q; k++) {
    let p = k;
    for (let i = k + 1; i < q; i++) if (Math.abs(a[i * q + k]) > Math.abs(a[p * q + k])) p = i;
    if (p !== k) {
      for (let j = 0; j < q; j++) [a[k * q + j], a[p * q + j]] = [a[p * q + j], a[k * q + j]];
      [b[k], b[p]] = [b[p], b[k]];
    }
    for (let i = k + 1; i < q; i++) {
      const f = a[i * q + k] / a[k * q + k];
      for (let j = k; j < q; j++) a[i * q + j] -= f * a[k * q + j];
      b[i] -= f * b[k];
    }
  }
  const c = new Float64Array(q);
  for (let i = q - 1; i >= 0; i--) {
    let v = b[i];
    for (let j = i + 1; j < q; j++) v -= a[i * q + j] * c[j];
    c[i] = v / a[i * q + i];
  }
  for (let j = 0; j < q; j++) for (let i = 0; i < s; i++) out[i] -= columns[j][i] * c[j];
  for (let j = 0; j < q; j++) out[pruned[j]] = 0;
  return out;
}

/** Keep masks reshaped per layer (kernel and bias, in the layer's own shapes flattened), for compression. */
export function layerMasks(
  layout: LaplaceLayout,
  indices: Int32Array,
  keep: Uint8Array,
): Map<string, { kernel: Uint8Array; bias?: Uint8Array }> {
  const flat = new Uint8Array(layout.totalParams).fill(1);
  for (let i = 0; i < indices.length; i++) flat[indices[i]] = keep[i];
  const out = new Map<string, { kernel: Uint8Array; bias?: Uint8Array }>();
  for (const l of layout.layers) {
    const kernelSize = l.fanIn * l.outputSize;
    out.set(l.name, {
      kernel: flat.slice(l.offset, l.offset + kernelSize),
      bias: l.useBias ? flat.slice(l.offset + kernelSize, l.offset + l.paramCount) : undefined,
    });
  }
  return out;
}
