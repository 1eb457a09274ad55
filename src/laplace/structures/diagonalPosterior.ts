import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';
import { BayescompError } from '../../util/errors.js';
import type { DiagonalCurvature } from '../curvature/diagonalCurvature.js';
import type { LayerSubset } from '../curvature/layerJacobian.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { layerBasisCovariance, sumCovariances, summedLayerVariances } from './layerBasisCovariance.js';
import type { PosteriorStructure } from './posteriorStructure.js';

/** Per-parameter prior precisions from one precision per layer part (subset order). */
export function expandLayerPrior(parts: readonly LayerSubset[], layerPrior: readonly number[]): Float64Array {
  const size = parts.reduce((s, p) => s + p.local.length, 0);
  const out = new Float64Array(size);
  let offset = 0;
  parts.forEach((p, i) => {
    out.fill(layerPrior[i], offset, offset + p.local.length);
    offset += p.local.length;
  });
  return out;
}

/**
 * Diagonal Laplace posterior: precision P = s·diag(H) + diag(τ), with s the likelihood's curvature scale (1/σ² for a
 * Gaussian GGN) and τ the prior precision of each parameter's layer.
 */
export function diagonalPosterior(
  curvature: DiagonalCurvature,
  parts: readonly LayerSubset[],
  layerPrior: readonly number[],
  scale = 1,
): PosteriorStructure {
  const tau = expandLayerPrior(parts, layerPrior);
  const precision = curvature.values.map((h, i) => scale * h + tau[i]);
  for (let i = 0; i < precision.length; i++) {
    if (!(precision[i] > 0))
      throw new BayescompError('bad-config', `posterior precision of parameter ${i} is not positive`);
  }
  /** Per-layer `[rows, outputs]` variances 1 / (s·h + τ_layer) for the given layer priors. */
  const layerVariances = (prior: readonly number[]) =>
    parts.map((p, i) => {
      if (!p.whole) throw new BayescompError('bad-config', 'a diagonal predictive needs whole layers');
      const offset = parts.slice(0, i).reduce((s, q) => s + q.local.length, 0);
      const v = new Float32Array(p.local.length);
      for (let j = 0; j < v.length; j++) v[j] = 1 / (scale * curvature.values[offset + j] + prior[i]);
      return tf.tensor2d(v, [p.layer.rows, p.layer.outputSize]);
    });
  let cached: tf.Tensor2D[] | undefined;
  const noBases = parts.map(() => ({}));
  const variances = () => (cached ??= layerVariances(layerPrior).map((t) => tf.keep(t)));
  return {
    structure: 'diag',
    size: precision.length,
    logDetPrecision: () => precision.reduce((s, v) => s + Math.log(v), 0),
    marginalVariances: () => precision.map((v) => 1 / v),
    covarianceTimes: (v) => Float64Array.from(precision, (p, i) => v[i] / p),
    sampleDeviation: (random: Random) => Float32Array.from(precision, (p) => random.normal() / Math.sqrt(p)),
    functionalCovariance: (q: LayerQuantities) => {
      const dinv = variances();
      return sumCovariances(
        parts.map((p, i) =>
          layerBasisCovariance(
            q.inputs.get(p.layer.name)!,
            q.gradients.get(p.layer.name)!,
            undefined,
            undefined,
            dinv[i],
          ),
        ),
      );
    },
    functionalVariance: (q: LayerQuantities) =>
      tf.tidy(() => {
        const [m, c] = q.logits.shape;
        return summedLayerVariances(q, parts, noBases, [variances()]).reshape([m, c]) as tf.Tensor2D;
      }),
    functionalVarianceAtPriors: (q: LayerQuantities, priors: readonly (readonly number[])[]) =>
      tf.tidy(() => summedLayerVariances(q, parts, noBases, priors.map(layerVariances))),
    dispose: () => {
      if (cached) tf.dispose(cached);
      cached = undefined;
    },
  };
}
