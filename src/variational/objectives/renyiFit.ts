import * as tf from '@tensorflow/tfjs';
import { Random } from '../../runtime/random.js';
import { requireConfig } from '../../util/errors.js';
import { standardNormal } from '../noise.js';
import { renyiBound } from './renyiBound.js';

/** Options of {@link fitFactorisedGaussian}. */
export interface FactorisedGaussianFitOptions {
  /** Rényi α (1: KL/ELBO, 0: IWAE, ±Infinity: VR-max/VR-min). */
  readonly alpha: number;
  /** Samples K per step. Default 50. */
  readonly samples?: number;
  /** Adam steps at `learningRate`. Default 600. */
  readonly steps?: number;
  /** Further steps at a tenth of the rate over which the result is averaged (Polyak). Default 300. */
  readonly averageSteps?: number;
  /** Default 0.02. */
  readonly learningRate?: number;
  /** Seed of the sampling noise. Default 0. */
  readonly seed?: number;
  /** Starting point. Default mean 0, standard deviation 1. */
  readonly initMean?: readonly number[];
  readonly initStd?: readonly number[];
  /** Keep the means at `initMean` and fit only the standard deviations. Default false. */
  readonly fixMean?: boolean;
}

/** A fitted factorised Gaussian N(mean, diag(std²)) and the last value of its Rényi bound. */
export interface FactorisedGaussianFit {
  readonly mean: number[];
  readonly std: number[];
  readonly bound: number;
}

/**
 * Fits q(θ) = Π_i N(μ_i, σ_i²) to an unnormalised log density log p̃(θ) (e.g. a log joint log p(D, θ)) by
 * maximising the VR-α bound (Li & Turner 2016) with K reparameterised samples per step, all K evaluated at once by
 * `logDensity`, which maps θ `[K, d]` to `[K]`. Small problems only (this is the "Rényi picture" of seed 000).
 */
export function fitFactorisedGaussian(
  logDensity: (theta: tf.Tensor2D) => tf.Tensor1D,
  dim: number,
  options: FactorisedGaussianFitOptions,
): FactorisedGaussianFit {
  const samples = options.samples ?? 50;
  const steps = options.steps ?? 600;
  const averageSteps = options.averageSteps ?? 300;
  const learningRate = options.learningRate ?? 0.02;
  requireConfig(Number.isInteger(dim) && dim >= 1, `dimension must be a positive integer, got ${dim}`);
  requireConfig(averageSteps >= 1, 'averageSteps must be ≥ 1');
  const random = new Random(options.seed ?? 0);
  const mean = tf.variable(tf.tensor1d(options.initMean ? [...options.initMean] : new Array(dim).fill(0)));
  const logStd = tf.variable(tf.tensor1d((options.initStd ?? new Array<number>(dim).fill(1)).map(Math.log)));
  const meanSum = new Float64Array(dim);
  const stdSum = new Float64Array(dim);
  let bound = Number.NaN;
  const phases = [
    { count: steps, optimizer: tf.train.adam(learningRate), average: false },
    { count: averageSteps, optimizer: tf.train.adam(learningRate / 10), average: true },
  ];
  for (const phase of phases) {
    for (let i = 0; i < phase.count; i++) {
      const cost = phase.optimizer.minimize(
        () => {
          const std = tf.exp(logStd);
          const theta = tf.add(mean, tf.mul(std, standardNormal([samples, dim], random))) as tf.Tensor2D;
          const logQ = tf.sum(
            tf.mul(
              -0.5,
              tf.add(
                tf.add(tf.square(tf.div(tf.sub(theta, mean), std)), tf.mul(2, logStd)),
                Math.log(2 * Math.PI),
              ),
            ),
            1,
          );
          const logWeights = tf.sub(logDensity(theta), logQ) as tf.Tensor1D;
          const terms = renyiBound(logWeights, options.alpha);
          return tf.neg(terms.objective) as tf.Scalar;
        },
        phase.average && i === phase.count - 1,
        options.fixMean ? [logStd] : [mean, logStd],
      );
      if (phase.average) {
        const m = mean.dataSync();
        const s = logStd.dataSync();
        for (let j = 0; j < dim; j++) {
          meanSum[j] += m[j];
          stdSum[j] += Math.exp(s[j]);
        }
      }
      if (cost) {
        bound = -cost.dataSync()[0];
        cost.dispose();
      }
    }
    phase.optimizer.dispose();
  }
  const fit = {
    mean: Array.from(meanSum, (v) => v / averageSteps),
    std: Array.from(stdSum, (v) => v / averageSteps),
    bound,
  };
  mean.dispose();
  logStd.dispose();
  return fit;
}
