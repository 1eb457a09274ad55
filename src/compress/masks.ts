import { BayescompError } from '../util/errors.js';
import {
  type CriterionOptions,
  DEFAULT_THRESHOLDS,
  importance,
  type PruningCriterion,
  pruneMask,
} from './pruning-rules.js';
import type { WeightPosterior } from './weight-posterior.js';

/** How to turn posteriors into keep-masks. Give a threshold, a target sparsity, or neither (the default threshold). */
export interface PruningSpec extends CriterionOptions {
  readonly criterion: PruningCriterion;
  /** Threshold in the criterion's units: one for all tensors, or per layer name (others use the default). */
  readonly threshold?: number | Readonly<Record<string, number>>;
  /**
   * Fraction of weights to prune, chosen by rank of importance: one number (applied globally across tensors, or to
   * each tensor with `scope: 'per-layer'`) or one per layer name.
   */
  readonly targetSparsity?: number | Readonly<Record<string, number>>;
  /** Whether a single target sparsity ranks all tensors together (default) or each on its own. */
  readonly scope?: 'global' | 'per-layer';
}

/** Keep-masks (1 = keep) by tensor name. */
export type MaskSet = Map<string, Uint8Array>;

/** Computes the keep-mask of every tensor under `spec`. */
export function computeMasks(posteriors: readonly WeightPosterior[], spec: PruningSpec): MaskSet {
  if (spec.threshold !== undefined && spec.targetSparsity !== undefined) {
    throw new BayescompError('bad-config', 'give either a pruning threshold or a target sparsity, not both');
  }
  const masks: MaskSet = new Map();
  const target = spec.targetSparsity;
  if (target === undefined) {
    for (const p of posteriors) {
      const t = typeof spec.threshold === 'number' ? spec.threshold : spec.threshold?.[p.layer];
      masks.set(p.name, pruneMask(p, spec.criterion, t ?? DEFAULT_THRESHOLDS[spec.criterion], spec));
    }
    return masks;
  }
  if (typeof target === 'number' && (spec.scope ?? 'global') === 'global') {
    const scores = posteriors.map((p) => importance(p, spec.criterion, spec));
    const flat = concat(scores);
    const keep = keepTopFraction(flat, target);
    let offset = 0;
    for (let i = 0; i < posteriors.length; i++) {
      masks.set(posteriors[i].name, keep.slice(offset, offset + scores[i].length));
      offset += scores[i].length;
    }
    return masks;
  }
  for (const p of posteriors) {
    const s = typeof target === 'number' ? target : (target[p.layer] ?? 0);
    masks.set(p.name, keepTopFraction(importance(p, spec.criterion, spec), s));
  }
  return masks;
}

/**
 * Keeps all but the `round(sparsity · n)` least important entries; ties are broken by position so the result is
 * deterministic and prunes exactly that many.
 */
export function keepTopFraction(scores: Float64Array, sparsity: number): Uint8Array {
  if (!(sparsity >= 0 && sparsity <= 1)) {
    throw new BayescompError('bad-config', `target sparsity must be in [0, 1], got ${sparsity}`);
  }
  const n = scores.length;
  const prune = Math.round(sparsity * n);
  const order = Array.from({ length: n }, (_, i) => i);
  // NaN scores (undefined statistics) rank first, i.e. are pruned first.
  const key = (i: number) => (Number.isNaN(scores[i]) ? -Infinity : scores[i]);
  order.sort((a, b) => key(a) - key(b) || a - b);
  const mask = new Uint8Array(n).fill(1);
  for (let r = 0; r < prune; r++) mask[order[r]] = 0;
  return mask;
}

/** Applies keep-masks to the posterior means: the weights a pruned model uses. */
export function maskedMeans(
  posteriors: readonly WeightPosterior[],
  masks: MaskSet,
): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const p of posteriors) {
    const mask = masks.get(p.name);
    const w = Float32Array.from(p.mean);
    if (mask) for (let i = 0; i < w.length; i++) if (!mask[i]) w[i] = 0;
    out.set(p.name, w);
  }
  return out;
}

function concat(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((s, p) => s + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
