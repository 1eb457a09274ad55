import { BayescompError } from '../util/errors.js';

/**
 * The number of classes C of a row-major n×C probability matrix holding one row per label; throws `bad-shape`
 * when the lengths do not fit.
 */
export function classCountOf(probs: Float32Array | Float64Array, n: number): number {
  if (n <= 0) throw new BayescompError('bad-shape', 'no examples to evaluate');
  const c = probs.length / n;
  if (!Number.isInteger(c) || c < 1) {
    throw new BayescompError(
      'bad-shape',
      `probabilities hold ${probs.length} values, not a multiple of the ${n} examples`,
    );
  }
  return c;
}

/** Throws `bad-shape` unless `samples` holds S×n×C values. */
export function checkSampleShape(
  samples: Float32Array | Float64Array,
  numSamples: number,
  numClasses: number,
): number {
  if (!(numSamples >= 1) || !Number.isInteger(numSamples)) {
    throw new BayescompError('bad-shape', `number of samples must be a positive integer, got ${numSamples}`);
  }
  const n = samples.length / (numSamples * numClasses);
  if (!Number.isInteger(n) || n < 1) {
    throw new BayescompError(
      'bad-shape',
      `samples hold ${samples.length} values, not S×n×C with S=${numSamples}, C=${numClasses}`,
    );
  }
  return n;
}

/** Index of the largest entry of row `i` (the first one on ties). */
export function argmaxRow(probs: Float32Array | Float64Array, i: number, numClasses: number): number {
  const base = i * numClasses;
  let best = 0;
  let bestValue = probs[base];
  for (let c = 1; c < numClasses; c++) {
    if (probs[base + c] > bestValue) {
      bestValue = probs[base + c];
      best = c;
    }
  }
  return best;
}

/** Throws `bad-shape` unless every label lies in [0, numClasses). */
export function checkLabels(labels: Int32Array, numClasses: number): void {
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0 || y >= numClasses) {
      throw new BayescompError('bad-shape', `label ${y} of example ${i} is outside 0..${numClasses - 1}`);
    }
  }
}

/** Arithmetic mean of an array (NaN when empty). */
export function meanOf(values: ArrayLike<number>): number {
  if (values.length === 0) return Number.NaN;
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return s / values.length;
}
