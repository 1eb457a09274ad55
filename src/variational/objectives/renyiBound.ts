import * as tf from '@tensorflow/tfjs';
import { requireConfig } from '../../util/errors.js';

/** Treats `x` as a constant for differentiation (its value passes through, its gradient is zero). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    return { value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  },
) as (x: tf.Tensor) => tf.Tensor;

/** Below this |1 − α| the bound is computed from its second-order expansion around α = 1. */
const NEAR_ONE = 1e-3;

/** The VR bound's value and a surrogate whose gradient is the bound's. */
export interface RenyiBoundTerms {
  /** L̂_α = 1/(1−α) · log (1/K) Σ_k w_k^(1−α) (the limits for α = 1 and α = ±∞). */
  readonly bound: tf.Scalar;
  /** A scalar equal in value to `bound` whose gradient is Σ_k ŵ_k ∇ log w_k, ŵ held constant. */
  readonly objective: tf.Scalar;
  /** The normalised weights ŵ_k ∝ w_k^(1−α) (constants for differentiation). */
  readonly weights: tf.Tensor1D;
}

/**
 * The variational Rényi bound of Li & Turner (2016, eq. 12) from K log importance weights
 * log w_k = log p(D, θ_k) − log q(θ_k), θ_k ~ q:
 *
 *   L̂_{α,K} = 1/(1−α) · log (1/K) Σ_k exp((1−α) log w_k),
 *
 * with the limits α → 1: mean_k log w_k (the ELBO estimate), α = 0: the IWAE bound, α → −∞: max_k log w_k (VR-max),
 * α → +∞: min_k log w_k. The gradient (eq. 13) is Σ_k ŵ_{α,k} ∇ log w_k with ŵ_{α,k} = softmax((1−α) log w)_k,
 * the weights held constant (stop-gradient). For K = 1 every α gives log w_1.
 */
export function renyiBound(logWeights: tf.Tensor1D, alpha: number): RenyiBoundTerms {
  requireConfig(!Number.isNaN(alpha), 'Rényi α must be a number');
  const k = logWeights.shape[0];
  requireConfig(k >= 1, 'the Rényi bound needs at least one sample');
  return tf.tidy(() => {
    let bound: tf.Scalar;
    let weights: tf.Tensor1D;
    if (alpha === 1) {
      bound = tf.mean(logWeights);
      weights = tf.fill([k], 1 / k);
    } else if (!Number.isFinite(alpha)) {
      // The selection is a constant for differentiation; choosing it in JavaScript keeps argMax/equal (which have
      // no gradients) off the tape.
      const values = logWeights.dataSync();
      let index = 0;
      for (let i = 1; i < k; i++)
        if (alpha < 0 ? values[i] > values[index] : values[i] < values[index]) index = i;
      const oneHot = new Float32Array(k);
      oneHot[index] = 1;
      weights = tf.tensor1d(oneHot);
      bound = tf.sum(tf.mul(weights, logWeights));
    } else if (Math.abs(1 - alpha) < NEAR_ONE) {
      // log-sum-exp loses all precision in float32 as (1−α) → 0; the cumulant expansion
      // L̂ = mean + (1−α)/2 · var + O((1−α)²) is accurate there.
      const { mean, variance } = tf.moments(logWeights);
      bound = tf.add(mean, tf.mul((1 - alpha) / 2, variance));
      weights = tf.softmax(tf.mul(1 - alpha, logWeights)) as tf.Tensor1D;
    } else {
      const scaled = tf.mul(1 - alpha, logWeights);
      bound = tf.div(tf.sub(tf.logSumExp(scaled), Math.log(k)), 1 - alpha);
      weights = tf.softmax(scaled) as tf.Tensor1D;
    }
    weights = stopGradient(weights) as tf.Tensor1D;
    const surrogate = tf.sum(tf.mul(weights, logWeights));
    // Value of the bound, gradient of the weighted surrogate.
    const objective = tf.add(surrogate, stopGradient(tf.sub(bound, surrogate))) as tf.Scalar;
    return { bound: stopGradient(bound) as tf.Scalar, objective, weights };
  });
}
