import * as tf from '@tensorflow/tfjs';
import { Random } from '../../runtime/random.js';
import { fitFactorisedGaussian, type FactorisedGaussianFit } from './renyiFit.js';

/** A 2-D Bayesian linear regression with a strongly correlated Gaussian posterior (seed 000's Rényi picture). */
export interface CorrelatedRegression {
  /** Design matrix rows (x₁, x₂) with x₂ ≈ x₁, and targets. */
  readonly xs: number[][];
  readonly ys: number[];
  readonly noiseStd: number;
  readonly priorStd: number;
  /** Exact posterior mean and covariance. */
  readonly posteriorMean: [number, number];
  readonly posteriorCovariance: [[number, number], [number, number]];
  /** log p(y, w | X) for a batch of weights `[K, 2]` → `[K]`. */
  logJoint(w: tf.Tensor2D): tf.Tensor1D;
}

/** Builds the regression: n inputs with correlation ≈ 0.9 between the two features, y = x·(1, −0.5) + ε. */
export function correlatedRegression(n = 10, seed = 1, noiseStd = 1, priorStd = 1): CorrelatedRegression {
  const random = new Random(seed);
  const xs = Array.from({ length: n }, () => {
    const a = random.normal();
    return [a, 0.9 * a + Math.sqrt(1 - 0.81) * random.normal()];
  });
  const ys = xs.map(([a, b]) => a - 0.5 * b + noiseStd * random.normal());
  const p = [
    [1 / priorStd ** 2, 0],
    [0, 1 / priorStd ** 2],
  ];
  const r = [0, 0];
  xs.forEach((x, i) => {
    for (let a = 0; a < 2; a++) {
      r[a] += (x[a] * ys[i]) / noiseStd ** 2;
      for (let b = 0; b < 2; b++) p[a][b] += (x[a] * x[b]) / noiseStd ** 2;
    }
  });
  const det = p[0][0] * p[1][1] - p[0][1] * p[1][0];
  const cov: [[number, number], [number, number]] = [
    [p[1][1] / det, -p[0][1] / det],
    [-p[1][0] / det, p[0][0] / det],
  ];
  const mean: [number, number] = [cov[0][0] * r[0] + cov[0][1] * r[1], cov[1][0] * r[0] + cov[1][1] * r[1]];
  const x = tf.tensor2d(xs);
  const y = tf.tensor1d(ys);
  const logJoint = (w: tf.Tensor2D): tf.Tensor1D =>
    tf.tidy(() => {
      const predictions = tf.matMul(w, x, false, true); // [K, n]
      const logLik = tf.mul(-0.5 / noiseStd ** 2, tf.sum(tf.square(tf.sub(predictions, y)), 1));
      const logPrior = tf.mul(-0.5 / priorStd ** 2, tf.sum(tf.square(w), 1));
      return tf.add(logLik, logPrior) as tf.Tensor1D;
    });
  return { xs, ys, noiseStd, priorStd, posteriorMean: mean, posteriorCovariance: cov, logJoint };
}

/** The α values of the picture: mode-seeking to mass-covering. */
export const RENYI_PICTURE_ALPHAS = [Infinity, 1, 0.5, 0, -Infinity] as const;

/**
 * Fits a factorised Gaussian for each α (VR-min for +∞, VR-max for −∞). The target is symmetric about the exact
 * posterior mean, and so is the optimal factorised Gaussian for every α; the means are therefore held there (unless
 * `fitMean`), which removes the mean's gradient noise — large for α < 0 — from the variance fits.
 */
export function renyiPicture(
  problem: CorrelatedRegression,
  alphas: readonly number[] = RENYI_PICTURE_ALPHAS,
  options: { samples?: number; steps?: number; averageSteps?: number; seed?: number; fitMean?: boolean } = {},
): Array<{ alpha: number } & FactorisedGaussianFit> {
  return alphas.map((alpha) => ({
    alpha,
    ...fitFactorisedGaussian(problem.logJoint, 2, {
      alpha,
      samples: options.samples ?? 50,
      steps: options.steps ?? 600,
      averageSteps: options.averageSteps ?? 300,
      seed: options.seed ?? 2,
      initMean: problem.posteriorMean,
      initStd: [0.3, 0.3],
      fixMean: !options.fitMean,
    }),
  }));
}
