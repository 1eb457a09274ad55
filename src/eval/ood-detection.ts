/**
 * Out-of-distribution detection from uncertainty scores (Hendrycks & Gimpel 2017, "A Baseline for Detecting
 * Misclassified and Out-of-Distribution Examples").
 *
 * Convention, used for every figure this module returns: **in-distribution examples are the positive class**, and
 * each score is oriented so that a higher value means "more in-distribution": the max-probability score as is, the
 * entropy and mutual-information scores negated. For AUROC this is numerically identical to the other common
 * convention (OOD positive, scored by entropy or mutual information), because AUROC(pos, neg, s) =
 * AUROC(neg, pos, −s). FPR at 95% TPR is then the fraction of OOD examples accepted as in-distribution when the
 * threshold keeps 95% of the in-distribution examples (the figure of Hendrycks & Gimpel 2017 and Liang et al. 2018).
 */
import { BayescompError } from '../util/errors.js';

/**
 * Area under the ROC curve: P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) for a random positive and a random negative, computed
 * from mid-ranks (the Mann–Whitney U statistic, U / (n⁺ n⁻)) in O(n log n), exact with ties.
 */
export function auroc(positive: ArrayLike<number>, negative: ArrayLike<number>): number {
  const np = positive.length;
  const nn = negative.length;
  if (np === 0 || nn === 0) {
    throw new BayescompError('bad-shape', 'AUROC needs at least one positive and one negative example');
  }
  const n = np + nn;
  const values = new Float64Array(n);
  for (let i = 0; i < np; i++) values[i] = positive[i];
  for (let i = 0; i < nn; i++) values[np + i] = negative[i];
  checkFinite(values);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a] - values[b]);
  let positiveRankSum = 0;
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && values[order[end]] === values[order[start]]) end++;
    // Tied values share the mean of ranks start+1..end.
    const midRank = (start + 1 + end) / 2;
    for (let j = start; j < end; j++) if (order[j] < np) positiveRankSum += midRank;
    start = end;
  }
  return (positiveRankSum - (np * (np + 1)) / 2) / (np * nn);
}

/**
 * False-positive rate at a given true-positive rate: with examples accepted as positive when score ≥ t, t is the
 * largest threshold that accepts at least `tpr` of the positives, and the result is the fraction of negatives
 * with score ≥ t. Tied scores are accepted or rejected together, so the achieved TPR may exceed `tpr`.
 */
export function fprAtTpr(positive: ArrayLike<number>, negative: ArrayLike<number>, tpr = 0.95): number {
  if (positive.length === 0 || negative.length === 0) {
    throw new BayescompError('bad-shape', 'FPR at TPR needs at least one positive and one negative example');
  }
  if (!(tpr > 0 && tpr <= 1)) throw new BayescompError('bad-config', `TPR must be in (0, 1], got ${tpr}`);
  const sorted = Float64Array.from(positive).sort().reverse();
  checkFinite(sorted);
  // Rounding guard: 0.95 · 20 must give 19, not 20.
  const needed = Math.max(1, Math.ceil(tpr * sorted.length - 1e-9));
  const threshold = sorted[needed - 1];
  let falsePositives = 0;
  for (let i = 0; i < negative.length; i++) if (negative[i] >= threshold) falsePositives++;
  return falsePositives / negative.length;
}

function checkFinite(values: Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isNaN(values[i])) throw new BayescompError('bad-shape', 'a detection score is NaN');
  }
}

/** Per-example uncertainty scores of one set of examples. */
export interface UncertaintyScores {
  /** maxₖ p̄ₖ: higher means more confident. */
  readonly maxProbability: Float64Array;
  /** Predictive entropy H[p̄] in nats. */
  readonly entropy: Float64Array;
  /** Mutual information (epistemic part), when the predictive is Monte-Carlo. */
  readonly mutualInformation?: Float64Array;
}

/**
 * OOD detection figures with the in-distribution set as positives (see the module comment). Keys are snake-case
 * because they are part of the `bayescomp eval --json` contract.
 */
export interface OodMetrics {
  readonly auroc_maxprob: number;
  readonly auroc_entropy: number;
  /** Present when both sets have mutual-information scores. */
  readonly auroc_mi?: number;
  readonly fpr95_maxprob: number;
  readonly fpr95_entropy: number;
  readonly fpr95_mi?: number;
  /** Number of in-distribution and out-of-distribution examples. */
  readonly n_in: number;
  readonly n_out: number;
}

function negated(values: Float64Array): Float64Array {
  return values.map((v) => -v);
}

/** AUROC and FPR@95%TPR of the max-probability, entropy and (when present) mutual-information scores. */
export function oodDetectionMetrics(
  inDistribution: UncertaintyScores,
  outOfDistribution: UncertaintyScores,
): OodMetrics {
  const maxIn = inDistribution.maxProbability;
  const maxOut = outOfDistribution.maxProbability;
  const entIn = negated(inDistribution.entropy);
  const entOut = negated(outOfDistribution.entropy);
  const result: { -readonly [K in keyof OodMetrics]: OodMetrics[K] } = {
    auroc_maxprob: auroc(maxIn, maxOut),
    auroc_entropy: auroc(entIn, entOut),
    fpr95_maxprob: fprAtTpr(maxIn, maxOut),
    fpr95_entropy: fprAtTpr(entIn, entOut),
    n_in: maxIn.length,
    n_out: maxOut.length,
  };
  if (inDistribution.mutualInformation && outOfDistribution.mutualInformation) {
    const miIn = negated(inDistribution.mutualInformation);
    const miOut = negated(outOfDistribution.mutualInformation);
    result.auroc_mi = auroc(miIn, miOut);
    result.fpr95_mi = fprAtTpr(miIn, miOut);
  }
  return result;
}
