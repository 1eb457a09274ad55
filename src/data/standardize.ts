import { BayescompError } from '../util/errors.js';
import { type Dataset, featureSize } from './dataset.js';

/** Per-column mean and standard deviation, fitted on training data and reused on test data. */
export interface Standardization {
  readonly mean: Float32Array;
  /** Population standard deviation; columns that are constant on the training data get 1, so they are only centred. */
  readonly std: Float32Array;
}

/**
 * Fits z-scoring statistics to row-major `values` with `width` columns: mean_j = (1/n) Σ_i v_ij and
 * std_j = √((1/n) Σ_i (v_ij − mean_j)²), accumulated in float64 (two passes, for accuracy).
 */
export function fitStandardization(values: Float32Array, width: number): Standardization {
  const n = values.length / width;
  if (!(n >= 1) || !Number.isInteger(n)) {
    throw new BayescompError('bad-shape', `cannot fit standardisation to ${values.length} values of width ${width}`);
  }
  const mean = new Float64Array(width);
  const sq = new Float64Array(width);
  for (let i = 0; i < n; i++) for (let j = 0; j < width; j++) mean[j] += values[i * width + j];
  for (let j = 0; j < width; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < width; j++) {
      const d = values[i * width + j] - mean[j];
      sq[j] += d * d;
    }
  }
  const std = new Float32Array(width);
  for (let j = 0; j < width; j++) {
    const s = Math.sqrt(sq[j] / n);
    std[j] = s > 1e-12 * Math.max(1, Math.abs(mean[j])) ? s : 1;
  }
  return { mean: Float32Array.from(mean), std };
}

/** z = (v − mean) / std for each column of row-major `values` (a new array). */
export function applyStandardization(values: Float32Array, stats: Standardization): Float32Array {
  const width = stats.mean.length;
  const out = new Float32Array(values.length);
  for (let k = 0; k < values.length; k++) {
    const j = k % width;
    out[k] = (values[k] - stats.mean[j]) / stats.std[j];
  }
  return out;
}

/** The inverse of {@link applyStandardization}: v = z · std + mean (e.g. to report regression predictions). */
export function invertStandardization(values: Float32Array, stats: Standardization): Float32Array {
  const width = stats.mean.length;
  const out = new Float32Array(values.length);
  for (let k = 0; k < values.length; k++) {
    const j = k % width;
    out[k] = values[k] * stats.std[j] + stats.mean[j];
  }
  return out;
}

/** Fits feature statistics to a dataset (one column per feature value). */
export function fitFeatureStandardization(data: Dataset): Standardization {
  return fitStandardization(data.x, featureSize(data));
}

/** The dataset with standardised features (a copy; targets are shared). */
export function standardizeFeatures(data: Dataset, stats: Standardization): Dataset {
  if (stats.mean.length !== featureSize(data)) {
    throw new BayescompError(
      'bad-shape',
      `standardisation has ${stats.mean.length} columns but the data has ${featureSize(data)} features`,
    );
  }
  return { ...data, x: applyStandardization(data.x, stats) };
}
