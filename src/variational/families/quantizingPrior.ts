import * as tf from '@tensorflow/tfjs';
import { LOG_ALPHA_CLIP, SPARSE_VD_KL_CONSTANTS } from '../logUniformKl.js';

/** Width τ of the spike weighting functions Ω of VNQ (Achterhold et al. 2018, eq. 17). */
export const VNQ_TAU = 0.075;

/**
 * The Sparse VD approximation of KL(N(θ, σ²) ‖ p(w) ∝ 1/|w|) per element (Molchanov et al. 2017, eq. 14), the
 * F_KL,LU of VNQ with the sign turned into a KL: k1 − k1·sigmoid(k2 + k3·log α) + ½·softplus(−log α) ≥ 0.
 */
export function logUniformKlPerElement(logAlpha: tf.Tensor): tf.Tensor {
  const { k1, k2, k3 } = SPARSE_VD_KL_CONSTANTS;
  return tf.tidy(() =>
    tf.add(
      tf.sub(k1, tf.mul(k1, tf.sigmoid(tf.add(k2, tf.mul(k3, logAlpha))))),
      tf.mul(0.5, tf.softplus(tf.neg(logAlpha))),
    ),
  );
}

/** Options of {@link quantizingPriorKlPerWeight}. */
export interface QuantizingKlOptions {
  /** Width τ of the weighting functions. Default {@link VNQ_TAU}. */
  readonly tau?: number;
  /** log α relative to each spike is clipped to [−c, c]. Default 10. */
  readonly logAlphaClip?: number;
}

/**
 * Approximate KL(N(θ, σ²) ‖ p) per weight for the quantizing prior of Variational Network Quantization (Achterhold
 * et al. 2018, eq. 12, 16–17), p(w) ∝ Σ_k a_k / |w − c_k| with a spike at 0 and the non-zero spikes `centres`:
 *
 *   KL ≈ Σ_{c_k≠0} Ω(θ − c_k)·KL_LU(θ − c_k, σ) + Ω₀(θ)·KL_LU(θ, σ),
 *   Ω(d) = exp(−d²/(2τ²)),  Ω₀(θ) = 1 − Σ_{c_k≠0} Ω(θ − c_k),
 *
 * where KL_LU(d, σ) is {@link logUniformKlPerElement} at log α = log σ² − log(d² + 1e-8). The paper writes the
 * approximation of −KL (F_KL); this is its negative, so it is minimised. Near a non-zero spike the KL is the
 * log-uniform KL centred there, elsewhere the one centred at 0. The mixture weights a_k do not enter (as in the paper);
 * Ω₀ is floored at 0 so that spikes closer than ~2τ cannot give negative weights.
 */
export function quantizingPriorKlPerWeight(
  theta: tf.Tensor,
  logSigma2: tf.Tensor,
  centres: tf.Tensor1D,
  options: QuantizingKlOptions = {},
): tf.Tensor {
  const tau = options.tau ?? VNQ_TAU;
  const clip = options.logAlphaClip ?? LOG_ALPHA_CLIP;
  return tf.tidy(() => {
    const logAlphaAround = (d2: tf.Tensor, ls2: tf.Tensor) =>
      tf.clipByValue(tf.sub(ls2, tf.log(tf.add(d2, 1e-8))), -clip, clip);
    // A trailing axis over the non-zero spikes.
    const thetaK = tf.expandDims(theta, -1);
    const logSigma2K = tf.expandDims(logSigma2, -1);
    const d2 = tf.square(tf.sub(thetaK, centres));
    const omega = tf.exp(tf.div(d2, -2 * tau * tau));
    const local = tf.sum(tf.mul(omega, logUniformKlPerElement(logAlphaAround(d2, logSigma2K))), -1);
    const omega0 = tf.relu(tf.sub(1, tf.sum(omega, -1)));
    const global = tf.mul(omega0, logUniformKlPerElement(logAlphaAround(tf.square(theta), logSigma2)));
    return tf.add(local, global);
  });
}

/** {@link quantizingPriorKlPerWeight} summed over the tensor. */
export function quantizingPriorKl(
  theta: tf.Tensor,
  logSigma2: tf.Tensor,
  centres: tf.Tensor1D,
  options: QuantizingKlOptions = {},
): tf.Scalar {
  return tf.tidy(() => tf.sum(quantizingPriorKlPerWeight(theta, logSigma2, centres, options)) as tf.Scalar);
}

/**
 * VNQ's post-training quantisation (Achterhold et al. 2018, eq. 13–15): a weight whose log α relative to 0 is
 * ≥ `threshold` is pruned (set to 0), every other weight is snapped to the codebook value nearest its mean θ (the
 * value of highest posterior density). Returns the index into `codebook` of each weight (int32, shaped like θ);
 * `codebook` must contain 0, whose index pruned weights get.
 */
export function vnqCodebookIndices(
  theta: tf.Tensor,
  logAlpha: tf.Tensor,
  codebook: tf.Tensor1D,
  threshold: number,
): tf.Tensor {
  return tf.tidy(() => {
    const zeroIndex = tf.argMin(tf.abs(codebook));
    const distance = tf.abs(tf.sub(tf.expandDims(theta, -1), codebook));
    const nearest = tf.argMin(distance, -1);
    const pruned = tf.greaterEqual(logAlpha, threshold);
    return tf.where(pruned, tf.broadcastTo(zeroIndex, nearest.shape), nearest);
  });
}
