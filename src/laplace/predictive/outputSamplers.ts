import * as tf from '@tensorflow/tfjs';
import type { Random } from '../../runtime/random.js';

/**
 * Probit (extended MacKay) approximation of E[softmax(f)] for f ~ N(μ, Σ): softmax(μ / sqrt(1 + π/8 · diag Σ))
 * (Daxberger et al. 2021 eq. 18 in seed 002; MacKay 1992). Not normalised by construction for C > 2 beyond the
 * softmax itself, which is.
 */
export function probitSoftmax(mean: tf.Tensor2D, covariance: tf.Tensor3D): tf.Tensor2D {
  return tf.tidy(() => {
    const [m, c] = mean.shape;
    const diag = tf.sum(tf.mul(covariance, tf.eye(c).reshape([1, c, c])), 2);
    return probitSoftmaxFromVariance(mean, diag.reshape([m, c]) as tf.Tensor2D);
  });
}

/** {@link probitSoftmax} from the logits' variances diag Σ `[M, C]` alone (all the probit approximation uses). */
export function probitSoftmaxFromVariance(mean: tf.Tensor2D, variance: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const kappa = tf.rsqrt(tf.add(1, tf.mul(Math.PI / 8, tf.relu(variance))));
    return tf.softmax(tf.mul(mean, kappa)) as tf.Tensor2D;
  });
}

/** Lower Cholesky factor of a small PSD matrix (float64), adding diagonal jitter until it succeeds. */
export function psdCholesky(a: Float64Array, n: number): Float64Array {
  let trace = 0;
  for (let i = 0; i < n; i++) trace += Math.abs(a[i * n + i]);
  let jitter = 0;
  for (let attempt = 0; attempt < 12; attempt++) {
    const l = new Float64Array(n * n);
    let ok = true;
    for (let j = 0; j < n && ok; j++) {
      let d = a[j * n + j] + jitter;
      for (let k = 0; k < j; k++) d -= l[j * n + k] ** 2;
      if (!(d > 0)) {
        if (d > -1e-6 * (trace / n + 1e-30)) d = 0;
        else ok = false;
      }
      const ljj = Math.sqrt(d);
      l[j * n + j] = ljj;
      for (let i = j + 1; i < n; i++) {
        let s = a[i * n + j];
        for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
        l[i * n + j] = ljj > 0 ? s / ljj : 0;
      }
    }
    if (ok) return l;
    jitter = jitter === 0 ? 1e-10 * (trace / n + 1e-30) : jitter * 10;
  }
  throw new Error('functional covariance is not positive semi-definite');
}

/**
 * Monte-Carlo estimate of E[softmax(f)], f ~ N(μ_m, Σ_m) per example, with `samples` draws f = μ + L z (float64).
 */
export function monteCarloSoftmax(
  mean: tf.Tensor2D,
  covariance: tf.Tensor3D,
  samples: number,
  random: Random,
): tf.Tensor2D {
  const [m, c] = mean.shape;
  const mu = mean.dataSync();
  const cov = covariance.dataSync();
  const out = new Float32Array(m * c);
  const f = new Float64Array(c);
  const z = new Float64Array(c);
  for (let n = 0; n < m; n++) {
    const l = psdCholesky(Float64Array.from(cov.subarray(n * c * c, (n + 1) * c * c)), c);
    for (let s = 0; s < samples; s++) {
      for (let i = 0; i < c; i++) z[i] = random.normal();
      let max = -Infinity;
      for (let i = 0; i < c; i++) {
        let v = mu[n * c + i];
        for (let k = 0; k <= i; k++) v += l[i * c + k] * z[k];
        f[i] = v;
        if (v > max) max = v;
      }
      let sum = 0;
      for (let i = 0; i < c; i++) sum += f[i] = Math.exp(f[i] - max);
      for (let i = 0; i < c; i++) out[n * c + i] += f[i] / sum / samples;
    }
  }
  return tf.tensor2d(out, [m, c]);
}
