/**
 * Scores of a classifier's predictive probabilities against labels. Probabilities are a row-major n×C matrix
 * (`Float32Array`), labels an `Int32Array` of n class indices. Sums run in float64.
 */
import { argmaxRow, checkLabels, classCountOf } from './shapes.js';

/** Probabilities below this are raised to it before the logarithm, so one confident mistake costs a finite NLL. */
export const NLL_PROBABILITY_FLOOR = 1e-12;

/** Fraction of examples whose most probable class (the first on ties) is the label. */
export function accuracy(probs: Float32Array, labels: Int32Array): number {
  const c = classCountOf(probs, labels.length);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(probs, i, c) === labels[i]) correct++;
  return correct / labels.length;
}

/**
 * Mean negative log-likelihood −(1/n) Σᵢ log max(pᵢ,yᵢ, floor), in nats. The floor
 * ({@link NLL_PROBABILITY_FLOOR} by default) keeps a probability that underflowed to 0 from making the mean infinite.
 */
export function negativeLogLikelihood(
  probs: Float32Array,
  labels: Int32Array,
  floor: number = NLL_PROBABILITY_FLOOR,
): number {
  const c = classCountOf(probs, labels.length);
  checkLabels(labels, c);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) sum -= Math.log(Math.max(probs[i * c + labels[i]], floor));
  return sum / labels.length;
}

/**
 * Multi-class Brier score (Brier 1950): (1/n) Σᵢ Σ_c (pᵢ,c − 1[yᵢ = c])², between 0 (perfect) and 2. Summed over
 * classes, not averaged, as in Brier's definition and the Laplace Redux benchmarks.
 */
export function brierScore(probs: Float32Array, labels: Int32Array): number {
  const c = classCountOf(probs, labels.length);
  checkLabels(labels, c);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let k = 0; k < c; k++) {
      const d = probs[i * c + k] - (k === labels[i] ? 1 : 0);
      sum += d * d;
    }
  }
  return sum / labels.length;
}

/** The predicted class of each example (the first maximum on ties). */
export function predictedClasses(probs: Float32Array, numClasses: number): Int32Array {
  const n = probs.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = argmaxRow(probs, i, numClasses);
  return out;
}

/** The confidence maxₖ pᵢ,ₖ of each example (the max-probability score of Hendrycks & Gimpel 2017). */
export function maxProbability(probs: Float32Array, numClasses: number): Float64Array {
  const n = probs.length / numClasses;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = probs[i * numClasses + argmaxRow(probs, i, numClasses)];
  return out;
}
