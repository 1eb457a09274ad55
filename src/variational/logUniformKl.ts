import * as tf from '@tensorflow/tfjs';

/** Constants of the Sparse VD KL approximation (Molchanov, Ashukha & Vetrov 2017, eq. 14). */
export const SPARSE_VD_KL_CONSTANTS = { k1: 0.63576, k2: 1.8732, k3: 1.48695 } as const;

/** Default clipping range of log α for the Sparse VD KL (the PyTorch reference code uses ±10; the paper's code ±8). */
export const LOG_ALPHA_CLIP = 10;

/**
 * Approximate KL(q ‖ p) summed over weights, for q(w) = N(θ, αθ²) and the log-uniform prior p(w) ∝ 1/|w|
 * (Molchanov et al. 2017, eq. 14):
 * −KL ≈ k1·sigmoid(k2 + k3·log α) − ½·log1p(exp(−log α)) − k1, with k1 = 0.63576, k2 = 1.87320, k3 = 1.48695.
 * The constant −k1 makes the approximation tend to 0 as α → ∞. `logAlpha` should already be clipped.
 */
export function logUniformKl(logAlpha: tf.Tensor): tf.Scalar {
  const { k1, k2, k3 } = SPARSE_VD_KL_CONSTANTS;
  return tf.tidy(() => {
    const first = tf.mul(k1, tf.sigmoid(tf.add(k2, tf.mul(k3, logAlpha))));
    // log1p(exp(−log α)) = −log sigmoid(log α): a sigmoid and a log cost less than softplus on the wasm backend,
    // and log α is clipped, so sigmoid(log α) ≥ 4.5e−5 keeps the log accurate in float32.
    const second = tf.mul(0.5, tf.log(tf.sigmoid(logAlpha)));
    const negKlPlusK1 = tf.sum(tf.add(first, second));
    return tf.sub(k1 * logAlpha.size, negKlPlusK1) as tf.Scalar;
  });
}

/** The same approximation per weight in plain numbers (for tests, reports and tabulation). */
export function logUniformKlScalar(logAlpha: number): number {
  const { k1, k2, k3 } = SPARSE_VD_KL_CONSTANTS;
  const sigmoid = 1 / (1 + Math.exp(-(k2 + k3 * logAlpha)));
  const softplus = logAlpha < -30 ? -logAlpha : Math.log1p(Math.exp(-logAlpha));
  return -(k1 * sigmoid - 0.5 * softplus - k1);
}

/**
 * log α = log σ² − log(θ² + 1e-8), clipped to [−clip, clip] (additive-noise parametrisation, Molchanov et al. 2017
 * §4.2); the 1e-8 keeps θ = 0 finite.
 */
export function sparseLogAlpha(theta: tf.Tensor, logSigma2: tf.Tensor, clip = LOG_ALPHA_CLIP): tf.Tensor {
  return tf.tidy(() =>
    tf.clipByValue(tf.sub(logSigma2, tf.log(tf.add(tf.square(theta), 1e-8))), -clip, clip),
  );
}
