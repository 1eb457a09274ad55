import * as tf from '@tensorflow/tfjs';
import { BayescompError } from '../util/errors.js';
import type { CotangentFn } from './model/preactivationGradients.js';

/**
 * The likelihood the network's outputs parameterise: a categorical over softmax(logits), or a Gaussian with mean =
 * output and observation variance σ² (regression).
 */
export type LaplaceLikelihood = 'classification' | 'regression';

/** Which curvature approximates the Hessian of the negative log-likelihood. */
export type CurvatureType = 'ggn' | 'ef';

/**
 * Cotangents whose pull-backs give the generalised Gauss–Newton: the columns of a square root L of the output Hessian
 * Λ = LLᵀ, so that Σ_k (Jᵀ l_k)(Jᵀ l_k)ᵀ = Jᵀ Λ J.
 * - Softmax cross-entropy: Λ = diag(p) − ppᵀ has the exact square root L = diag(√p) − p√pᵀ (columns √p_c (e_c − p)),
 *   since √pᵀ√p = 1. K = C cotangents.
 * - Gaussian: Λ = I/σ²; cotangents are unit vectors here and the 1/σ² is applied as a curvature scale (so σ can be
 *   optimised afterwards).
 */
export function ggnCotangents(likelihood: LaplaceLikelihood): CotangentFn {
  if (likelihood === 'regression') return unitCotangents;
  return (logits) =>
    tf.tidy(() => {
      const [m, c] = logits.shape;
      const p = tf.softmax(logits);
      const eye = tf.eye(c).reshape([c, 1, c]);
      const centred = tf.sub(eye, p.reshape([1, m, c]));
      return tf.mul(centred, tf.sqrt(p).transpose().reshape([c, m, 1])) as tf.Tensor3D;
    });
}

/** Unit cotangents e_1..e_C: their pull-backs are the rows of the per-example Jacobian of the logits. */
export const unitCotangents: CotangentFn = (logits) =>
  tf.tidy(() => {
    const [m, c] = logits.shape;
    return tf.broadcastTo(tf.eye(c).reshape([c, 1, c]), [c, m, c]).clone() as tf.Tensor3D;
  });

/**
 * The per-example gradient of the negative log-likelihood w.r.t. the outputs (one cotangent), for the empirical
 * Fisher Σ_n ∇ℓ_n ∇ℓ_nᵀ: softmax − onehot(y) for classification, f − y (at σ = 1; scaled later) for regression.
 */
export function lossGradientCotangents(likelihood: LaplaceLikelihood, y: tf.Tensor): CotangentFn {
  return (logits) =>
    tf.tidy(() => {
      const [m, c] = logits.shape;
      const grad =
        likelihood === 'classification'
          ? tf.sub(tf.softmax(logits), tf.oneHot(y.toInt().reshape([m]), c))
          : tf.sub(logits, y.reshape([m, c]));
      return grad.reshape([1, m, c]) as tf.Tensor3D;
    });
}

/**
 * How the stored curvature (computed at σ = 1) scales with the regression noise variance σ²: the GGN by 1/σ², the
 * empirical Fisher by 1/σ⁴ (its gradients carry 1/σ² each). 1 for classification.
 */
export function curvatureScale(likelihood: LaplaceLikelihood, type: CurvatureType, sigma2: number): number {
  if (likelihood === 'classification') return 1;
  return type === 'ggn' ? 1 / sigma2 : 1 / (sigma2 * sigma2);
}

/** Sufficient statistics of the data log-likelihood at θ*, summed over batches. */
export interface LikelihoodStats {
  /** Classification: Σ_n log softmax(f_n)_{y_n}. Regression: unused (0). */
  logLik: number;
  /** Regression: Σ_n ||y_n − f_n||². */
  sse: number;
  /** Examples seen. */
  n: number;
  /** Output values per example. */
  outputs: number;
}

/** Adds a batch's log-likelihood statistics to `stats`. */
export function addLikelihoodStats(
  stats: LikelihoodStats,
  likelihood: LaplaceLikelihood,
  logits: tf.Tensor2D,
  y: tf.Tensor,
): void {
  const [m, c] = logits.shape;
  const value = tf.tidy(() => {
    if (likelihood === 'classification') {
      const labels = y.toInt().reshape([m]);
      return tf.sum(tf.mul(tf.logSoftmax(logits), tf.oneHot(labels, c)));
    }
    if (y.size !== m * c) {
      throw new BayescompError(
        'bad-shape',
        `regression targets have ${y.size / m} values per example, outputs ${c}`,
      );
    }
    return tf.sum(tf.square(tf.sub(logits, y.reshape([m, c]))));
  });
  const v = value.dataSync()[0];
  value.dispose();
  if (likelihood === 'classification') stats.logLik += v;
  else stats.sse += v;
  stats.n += m;
  stats.outputs = c;
}

/** log p(D | θ*) from the statistics; for regression at observation variance σ². */
export function dataLogLikelihood(stats: LikelihoodStats, likelihood: LaplaceLikelihood, sigma2 = 1): number {
  if (likelihood === 'classification') return stats.logLik;
  const count = stats.n * stats.outputs;
  return -stats.sse / (2 * sigma2) - 0.5 * count * Math.log(2 * Math.PI * sigma2);
}
