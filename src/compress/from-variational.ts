import * as tf from '@tensorflow/tfjs';
import { bayesianLayers } from '../variational/index.js';
import type { WeightPosterior } from './weight-posterior.js';

/**
 * The kernel posteriors of a Bayesian model's layers as {@link WeightPosterior}s: marginal means and variances of
 * each kernel weight (for group families the hierarchical marginals, Louizos et al. 2017 eq. 10–11) and log α where
 * the family defines it (Sparse VD; for group families the group's log α on each of its weights).
 */
export function variationalWeightPosteriors(model: tf.LayersModel): WeightPosterior[] {
  return bayesianLayers(model).map((layer) => {
    const family = layer.family();
    const { mean, variance, logAlpha, shape } = tf.tidy(() => {
      const m = family.mean();
      return {
        mean: m.dataSync() as Float32Array,
        shape: m.shape,
        variance: family.variance().dataSync() as Float32Array,
        logAlpha: family.logAlpha ? (family.logAlpha().dataSync() as Float32Array) : undefined,
      };
    });
    return {
      layer: layer.name,
      name: `${layer.name}/kernel`,
      shape,
      mean: Float32Array.from(mean),
      variance: Float32Array.from(variance),
      ...(logAlpha ? { logAlpha: Float32Array.from(logAlpha) } : {}),
    };
  });
}

/**
 * The kernels of a deterministic model as point "posteriors" (mean = weight, no variance): what magnitude pruning
 * and plain quantisation work from.
 */
export function pointWeightPosteriors(model: tf.LayersModel): WeightPosterior[] {
  const out: WeightPosterior[] = [];
  for (const layer of model.layers) {
    const kind = layer.getClassName();
    if (kind !== 'Dense' && kind !== 'Conv2D') continue;
    const kernel = layer.getWeights()[0];
    out.push({
      layer: layer.name,
      name: `${layer.name}/kernel`,
      shape: kernel.shape,
      mean: Float32Array.from(kernel.dataSync()),
    });
  }
  return out;
}
