import * as tf from '@tensorflow/tfjs';

const LOG_2PI = Math.log(2 * Math.PI);

/**
 * KL(N(μ, σ²) ‖ N(μp, σp²)) summed over elements (broadcasting):
 * ½ Σ [log(σp²/σ²) + (σ² + (μ − μp)²)/σp² − 1] (e.g. Graves 2011, eq. 13; Kingma & Welling 2014, App. B).
 */
export function gaussianKl(
  mean: tf.Tensor,
  variance: tf.Tensor,
  priorMean: tf.Tensor | number,
  priorVariance: tf.Tensor | number,
): tf.Scalar {
  return tf.tidy(() => {
    const pv = typeof priorVariance === 'number' ? tf.scalar(priorVariance) : priorVariance;
    const pm = typeof priorMean === 'number' ? tf.scalar(priorMean) : priorMean;
    const diff = tf.sub(mean, pm);
    const ratio = tf.div(tf.add(variance, tf.square(diff)), pv);
    const logRatio = tf.sub(tf.log(pv), tf.log(variance));
    return tf.mul(0.5, tf.sum(tf.sub(tf.add(logRatio, ratio), 1))) as tf.Scalar;
  });
}

/** Σ log N(x; μ, σ²) = Σ [−½ log 2π − ½ log σ² − (x − μ)²/(2σ²)], summed over elements (broadcasting). */
export function gaussianLogDensity(
  x: tf.Tensor,
  mean: tf.Tensor | number,
  variance: tf.Tensor | number,
): tf.Scalar {
  return tf.tidy(() => {
    const v = typeof variance === 'number' ? tf.scalar(variance) : variance;
    const m = typeof mean === 'number' ? tf.scalar(mean) : mean;
    const z = tf.div(tf.square(tf.sub(x, m)), v);
    const perElement = tf.mul(-0.5, tf.add(tf.add(z, tf.log(v)), LOG_2PI));
    return tf.sum(perElement) as tf.Scalar;
  });
}
