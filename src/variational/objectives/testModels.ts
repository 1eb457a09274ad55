import * as tf from '@tensorflow/tfjs';
import { Random } from '../../runtime/random.js';
import type { Batch, LossTerms, Objective, StepContext } from '../../train/types.js';
import { BayesianDense } from '../bayesianDense.js';
import { gaussianFamily } from '../families/gaussianPosterior.js';

/**
 * Bayesian linear regression y = x·w + ε, ε ~ N(0, s²), prior w ~ N(0, σ0² I), as a one-layer Bayesian model
 * (no bias), with its exact Gaussian posterior (test helper).
 */
export interface LinearRegressionProblem {
  readonly model: tf.LayersModel;
  readonly layer: BayesianDense;
  readonly batch: Batch;
  readonly n: number;
  /** Exact posterior mean and covariance (row-major d×d). */
  readonly posteriorMean: number[];
  readonly posteriorCovariance: number[][];
  /** log p(y | X) (the evidence). */
  readonly logEvidence: number;
}

/** Builds a regression problem from a design matrix `xs` (n × d) and targets `ys`. */
export function linearRegressionProblem(
  xs: number[][],
  ys: number[],
  noiseStd: number,
  priorStd: number,
  reparameterisation: 'local' | 'shared' | 'flipout' = 'local',
): LinearRegressionProblem {
  const n = xs.length;
  const d = xs[0].length;
  const layer = new BayesianDense({
    units: 1,
    useBias: false,
    inputShape: [d],
    reparameterisation,
    family: gaussianFamily({ priorStd }),
  });
  const model = tf.sequential({ layers: [layer] });
  // Precision P = I/σ0² + XᵀX/s²; mean = P⁻¹ Xᵀy/s² (d ≤ 2 here, so invert by hand).
  const p: number[][] = Array.from({ length: d }, (_, i) =>
    Array.from({ length: d }, (_, j) => (i === j ? 1 / priorStd ** 2 : 0)),
  );
  const b = new Array<number>(d).fill(0);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < d; i++) {
      b[i] += (xs[r][i] * ys[r]) / noiseStd ** 2;
      for (let j = 0; j < d; j++) p[i][j] += (xs[r][i] * xs[r][j]) / noiseStd ** 2;
    }
  }
  const cov = invert(p);
  const mean = cov.map((row) => row.reduce((a, v, j) => a + v * b[j], 0));
  // Evidence: y ~ N(0, s² I + σ0² X Xᵀ); log det and quadratic form by the matrix determinant lemma.
  const detP = d === 1 ? p[0][0] : p[0][0] * p[1][1] - p[0][1] * p[1][0];
  const yy = ys.reduce((a, y) => a + y * y, 0) / noiseStd ** 2;
  const quad = yy - mean.reduce((a, m, i) => a + m * b[i], 0);
  const logDet = n * Math.log(noiseStd ** 2) + Math.log(detP) + d * Math.log(priorStd ** 2);
  const logEvidence = -0.5 * (n * Math.log(2 * Math.PI) + logDet + quad);
  const batch: Batch = { x: tf.tensor2d(xs), y: tf.tensor2d(ys, [n, 1]), size: n };
  return { model, layer, batch, n, posteriorMean: mean, posteriorCovariance: cov, logEvidence };
}

function invert(m: number[][]): number[][] {
  if (m.length === 1) return [[1 / m[0][0]]];
  const det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
  return [
    [m[1][1] / det, -m[0][1] / det],
    [-m[1][0] / det, m[0][0] / det],
  ];
}

/** A step context for full-batch training (test helper). */
export function fullBatchContext(n: number, random: Random, epoch = 0): StepContext {
  return { epoch, step: 0, stepsPerEpoch: 1, datasetSize: n, random };
}

/**
 * Runs Adam on `objective` over one batch: `steps` steps at `learningRate`, then `averageLast` more at a tenth of it
 * while averaging the posterior means and standard deviations (Polyak averaging removes the stochastic-gradient
 * jitter around the optimum).
 */
export function fitFullBatch(
  problem: LinearRegressionProblem,
  objective: Objective,
  options: { steps: number; learningRate: number; averageLast: number; seed: number },
): { mean: number[]; std: number[] } {
  const random = new Random(options.seed);
  const family = problem.layer.family();
  const d = problem.posteriorMean.length;
  const meanSum = new Float64Array(d);
  const stdSum = new Float64Array(d);
  const phases = [
    { steps: options.steps, optimizer: tf.train.adam(options.learningRate), average: false },
    { steps: options.averageLast, optimizer: tf.train.adam(options.learningRate / 10), average: true },
  ];
  let step = 0;
  for (const phase of phases) {
    for (let i = 0; i < phase.steps; i++, step++) {
      const context = fullBatchContext(problem.n, random, step);
      phase.optimizer.minimize(
        () => (objective.loss(problem.model, problem.batch, context) as LossTerms).loss,
      );
      if (phase.average) {
        const m = family.mean().dataSync();
        const v = family.variance().dataSync();
        for (let j = 0; j < d; j++) {
          meanSum[j] += m[j];
          stdSum[j] += Math.sqrt(v[j]);
        }
      }
    }
    phase.optimizer.dispose();
  }
  return {
    mean: Array.from(meanSum, (s) => s / options.averageLast),
    std: Array.from(stdSum, (s) => s / options.averageLast),
  };
}
