import * as tf from '@tensorflow/tfjs';
import { predictMonteCarlo, predictiveEntropy, uncertaintyDecomposition } from '../../../src/browser.js';

/** A predictive distribution over the classes for one image, with its uncertainty in nats. */
export interface ImagePrediction {
  /** p(y | x), summing to 1. */
  readonly probs: Float64Array;
  /** H[p] = −Σ_c p_c log p_c (total uncertainty). */
  readonly entropy: number;
  /** Monte-Carlo only: E_s H[p_s] (aleatoric part) and I[y; θ | x] = H[p̄] − E_s H[p_s] (epistemic part). */
  readonly expectedEntropy?: number;
  readonly mutualInformation?: number;
  /** Forward passes averaged (1 for a deterministic model). */
  readonly samples: number;
}

/** The deterministic predictive softmax(f(x)) of a logits model, for one image `[1, h, w, c]`. */
export async function predictDeterministic(
  logitsModel: tf.LayersModel,
  x: tf.Tensor4D,
): Promise<ImagePrediction> {
  const probsTensor = tf.tidy(() => tf.softmax(logitsModel.predict(x) as tf.Tensor2D));
  const probs = Float64Array.from(await probsTensor.data());
  probsTensor.dispose();
  return { probs, entropy: predictiveEntropy(probs, probs.length)[0], samples: 1 };
}

/**
 * The Monte-Carlo predictive p̄ = (1/S) Σ_s softmax(f(x; θ_s)), θ_s ~ q, of a Bayesian model (bayescomp's
 * `predictMonteCarlo`: its Bayesian layers draw fresh noise on every pass), and the decomposition
 * H[p̄] = E_s H[p_s] + I[y; θ | x] (Depeweg et al. 2018, eq. 5) by `uncertaintyDecomposition`.
 */
export async function predictMonteCarloImage(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  samples: number,
): Promise<ImagePrediction> {
  const prediction = predictMonteCarlo(model, x, { samples, returnSamples: true });
  const [mean, draws] = await Promise.all([prediction.probs.data(), prediction.samples!.data()]);
  tf.dispose([prediction.probs, prediction.samples!]);
  const numClasses = mean.length;
  const parts = uncertaintyDecomposition(draws as Float32Array, samples, numClasses);
  return {
    probs: Float64Array.from(mean),
    entropy: parts.total[0],
    expectedEntropy: parts.aleatoric[0],
    mutualInformation: parts.mutualInformation[0],
    samples,
  };
}

/** Index of the largest probability. */
export function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
