import * as tf from '@tensorflow/tfjs';

const LOG_2PI_E = Math.log(2 * Math.PI) + 1;

/** log Γ(x) for x > 0 (Lanczos approximation, g = 7, 9 terms; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let sum = c[0];
  for (let i = 1; i < 9; i++) sum += c[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * KL(LN(μ, σ²) ‖ Gamma(shape a, scale θ)) summed over elements, for a log-normal q (log x ~ N(μ, σ²)). With
 * E_q[log x] = μ, E_q[x] = exp(μ + σ²/2) and the log-normal entropy μ + ½ log(2πeσ²):
 *
 *   KL = log Γ(a) + a·log θ − a·μ + exp(μ + σ²/2)/θ − ½ log(2πeσ²).
 *
 * Used for the gamma factors of the half-Cauchy decomposition of Louizos et al. 2017 (§3.2, eq. 14–16); the
 * exponential is evaluated as exp(μ + σ²/2 − log θ) so a tiny scale θ = τ₀² does not overflow float32.
 */
export function logNormalGammaKl(
  mu: tf.Tensor,
  logSigma2: tf.Tensor,
  shape: number,
  scale: number,
): tf.Scalar {
  return tf.tidy(() => {
    const sigma2 = tf.exp(logSigma2);
    const constant = logGamma(shape) + shape * Math.log(scale) - 0.5 * LOG_2PI_E;
    const mean = tf.exp(tf.sub(tf.add(mu, tf.mul(0.5, sigma2)), Math.log(scale)));
    const perElement = tf.sub(tf.sub(tf.add(mean, constant), tf.mul(shape, mu)), tf.mul(0.5, logSigma2));
    return tf.sum(perElement) as tf.Scalar;
  });
}

/**
 * KL(LN(μ, σ²) ‖ InvGamma(shape a, scale b)) summed over elements. With E_q[1/x] = exp(−μ + σ²/2):
 *
 *   KL = log Γ(a) − a·log b + a·μ + b·exp(−μ + σ²/2) − ½ log(2πeσ²).
 *
 * The inverse-gamma factors of the half-Cauchy decomposition (Louizos et al. 2017, eq. 14–16).
 */
export function logNormalInverseGammaKl(
  mu: tf.Tensor,
  logSigma2: tf.Tensor,
  shape: number,
  scale: number,
): tf.Scalar {
  return tf.tidy(() => {
    const sigma2 = tf.exp(logSigma2);
    const constant = logGamma(shape) - shape * Math.log(scale) - 0.5 * LOG_2PI_E;
    const inverseMean = tf.exp(tf.add(tf.sub(tf.mul(0.5, sigma2), mu), Math.log(scale)));
    const perElement = tf.sub(
      tf.add(tf.add(inverseMean, constant), tf.mul(shape, mu)),
      tf.mul(0.5, logSigma2),
    );
    return tf.sum(perElement) as tf.Scalar;
  });
}

/** {@link logNormalGammaKl} of one element in float64 (for tests and reports). */
export function logNormalGammaKlScalar(mu: number, sigma2: number, shape: number, scale: number): number {
  return (
    logGamma(shape) +
    shape * Math.log(scale) -
    shape * mu +
    Math.exp(mu + sigma2 / 2 - Math.log(scale)) -
    0.5 * (LOG_2PI_E + Math.log(sigma2))
  );
}

/** {@link logNormalInverseGammaKl} of one element in float64 (for tests and reports). */
export function logNormalInverseGammaKlScalar(
  mu: number,
  sigma2: number,
  shape: number,
  scale: number,
): number {
  return (
    logGamma(shape) -
    shape * Math.log(scale) +
    shape * mu +
    scale * Math.exp(-mu + sigma2 / 2) -
    0.5 * (LOG_2PI_E + Math.log(sigma2))
  );
}
