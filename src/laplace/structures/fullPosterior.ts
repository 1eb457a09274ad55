import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';
import type { FullCurvature } from '../curvature/fullCurvature.js';
import { type LayerSubset, subsetJacobian } from '../curvature/layerJacobian.js';
import { cholesky, choleskyInverse, choleskyLogDet, solveLower, solveUpper } from '../matrix/denseFloat64.js';
import type { LayerQuantities } from '../model/preactivationGradients.js';
import { expandLayerPrior } from './diagonalPosterior.js';
import type { PosteriorStructure } from './posteriorStructure.js';

/**
 * Full-covariance Laplace posterior over a parameter subset (all weights of a small network, or a subnetwork as in
 * Daxberger et al. 2021): P = s·H + diag(τ) with its Cholesky factor P = L Lᵀ in float64; samples δ = L⁻ᵀ z.
 */
export function fullPosterior(
  curvature: FullCurvature,
  parts: readonly LayerSubset[],
  layerPrior: readonly number[],
  scale = 1,
): PosteriorStructure {
  const n = curvature.size;
  const tau = expandLayerPrior(parts, layerPrior);
  const precision = curvature.matrix.map((v) => scale * v);
  for (let i = 0; i < n; i++) precision[i * n + i] += tau[i];
  const l = cholesky(precision, n);
  let covariance: Float64Array | undefined;
  const cov = () => (covariance ??= choleskyInverse(l, n));
  let covTensor: tf.Tensor2D | undefined;
  return {
    structure: 'full',
    size: n,
    logDetPrecision: () => choleskyLogDet(l, n),
    marginalVariances: () => {
      const c = cov();
      return Float64Array.from({ length: n }, (_, i) => c[i * n + i]);
    },
    covarianceTimes: (v) => solveUpper(l, n, solveLower(l, n, v)),
    sampleDeviation: (random: Random) => {
      const z = Float64Array.from({ length: n }, () => random.normal());
      return Float32Array.from(solveUpper(l, n, z));
    },
    functionalCovariance: (q: LayerQuantities) => {
      covTensor ??= tf.keep(tf.tensor2d(Float32Array.from(cov()), [n, n]));
      const sigma = covTensor;
      return tf.tidy(() => {
        const j = tf.transpose(subsetJacobian(q, parts), [1, 0, 2]); // [M, C, S]
        const [m, c] = j.shape;
        const js = tf.matMul(j.reshape([m * c, n]), sigma).reshape([m, c, n]);
        return tf.matMul(js as tf.Tensor3D, tf.transpose(j, [0, 2, 1]) as tf.Tensor3D);
      });
    },
    functionalVariance: (q: LayerQuantities) => {
      covTensor ??= tf.keep(tf.tensor2d(Float32Array.from(cov()), [n, n]));
      const sigma = covTensor;
      return tf.tidy(() => {
        const j = subsetJacobian(q, parts); // [C, M, S]
        const [c, m] = j.shape;
        const j2 = j.reshape([c * m, n]);
        const v = tf.sum(tf.mul(tf.matMul(j2, sigma), j2), 1);
        return tf.transpose(v.reshape([c, m])) as tf.Tensor2D;
      });
    },
    dispose: () => {
      covTensor?.dispose();
      covTensor = undefined;
    },
  };
}
