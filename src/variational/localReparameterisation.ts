import * as tf from '@tensorflow/tfjs';
import { lazyGradientOp } from './lazyGradientOp.js';

/** Variance floor inside the square root of local reparameterisation (keeps the gradient finite at zero variance). */
export const LRT_VARIANCE_EPSILON = 1e-8;

/** Inputs of {@link localReparameterisedDense}. */
export interface LocalReparameterisedDenseInputs {
  /** Layer input `[batch, in]`. */
  readonly x: tf.Tensor2D;
  /** Posterior means of the kernel `[in, out]`. */
  readonly mean: tf.Tensor2D;
  /** Posterior variances of the kernel `[in, out]`. */
  readonly variance: tf.Tensor2D;
  /** Standard normal noise `[batch, out]` (a constant: no gradient flows to it). */
  readonly noise: tf.Tensor2D;
  /** Bias (deterministic) or the bias posterior's mean `[out]`. */
  readonly biasMean?: tf.Tensor1D;
  /** The bias posterior's variance `[out]` (absent for a deterministic bias). */
  readonly biasVariance?: tf.Tensor1D;
}

/**
 * A dense layer's pre-activations under local reparameterisation (Kingma, Salimans & Welling 2015, eq. 6–7), as one
 * op with a hand-written gradient:
 *
 *   m = x·μ + b_μ,   v = x²·σ² + b_σ²,   s = sqrt(v + 1e-8),   y = m + s ⊙ ε.
 *
 * Backward, with g = ∂L/∂y and d = g ⊙ ε / (2s) = ∂L/∂v:
 *   ∂L/∂μ = xᵀ·g,   ∂L/∂σ² = (x²)ᵀ·d,   ∂L/∂b_μ = Σ_batch g,   ∂L/∂b_σ² = Σ_batch d,
 *   ∂L/∂x = g·μᵀ + 2x ⊙ (d·(σ²)ᵀ).
 *
 * Why fused: every product is a plain one (explicit transposes; the wasm backend's transposed MatMul is ~10× slower),
 * xᵀ is formed once for both weight gradients, and ∂L/∂x — two products with the largest operands — is computed only
 * when the tape needs it (never for a network's first layer). Values and gradients equal the composition of TF.js ops.
 */
export function localReparameterisedDense(inputs: LocalReparameterisedDenseInputs): tf.Tensor2D {
  const { x, mean, variance, noise, biasMean, biasVariance } = inputs;
  const differentiable: Record<string, tf.Tensor> = { x, mean, variance };
  if (biasMean) differentiable.biasMean = biasMean;
  if (biasVariance) differentiable.biasVariance = biasVariance;
  return lazyGradientOp({
    inputs: differentiable,
    forward(save) {
      let m = tf.matMul(x, mean);
      if (biasMean) m = tf.add(m, biasMean);
      let v = tf.matMul(tf.square(x), variance);
      if (biasVariance) v = tf.add(v, biasVariance);
      const s = tf.sqrt(tf.add(v, LRT_VARIANCE_EPSILON));
      save([x, mean, variance, noise, s]);
      return tf.add(m, tf.mul(s, noise));
    },
    backward(dy, saved) {
      const [sx, sMean, sVariance, sNoise, s] = saved as tf.Tensor2D[];
      const g = dy as tf.Tensor2D;
      const d = tf.div(tf.mul(g, sNoise), tf.mul(s, 2)) as tf.Tensor2D;
      const xT = tf.transpose(sx);
      return {
        x: () => tf.add(timesTransposed(g, sMean), tf.mul(tf.mul(sx, 2), timesTransposed(d, sVariance))),
        mean: () => tf.matMul(xT, g),
        variance: () => tf.matMul(tf.square(xT), d),
        biasMean: () => tf.sum(g, 0),
        biasVariance: () => tf.sum(d, 0),
      };
    },
  }) as tf.Tensor2D;
}

/**
 * a·wᵀ for a `[batch, out]` and w `[in, out]`, transposing whichever is smaller: w itself, or a and the `[in, batch]`
 * result of w·aᵀ (for a wide layer and a small batch the latter moves far fewer numbers; transposes are slow on wasm).
 */
function timesTransposed(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const [batch] = a.shape;
  const [inputs, outputs] = w.shape;
  if (inputs * outputs <= batch * (inputs + outputs)) return tf.matMul(a, tf.transpose(w));
  return tf.transpose(tf.matMul(w, tf.transpose(a)));
}
