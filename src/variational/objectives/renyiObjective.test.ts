import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../runtime/backend.js';
import { Random } from '../../runtime/random.js';
import { fillZigguratNormal } from '../zigguratNormal.js';
import { elboObjective } from './elboObjective.js';
import { renyiBound } from './renyiBound.js';
import { renyiObjective } from './renyiObjective.js';
import { fitFullBatch, fullBatchContext, linearRegressionProblem } from './testModels.js';

beforeAll(async () => {
  await initBackend();
});

/** Conjugate normal–normal model: z ~ N(0, 1), yᵢ ~ N(z, 1), as regression on a constant input. */
function conjugateProblem() {
  const random = new Random(21);
  const ys = Array.from({ length: 8 }, () => 1.5 + random.normal());
  return linearRegressionProblem(
    ys.map(() => [1]),
    ys,
    1,
    1,
    'shared',
  );
}

function boundValue(
  problem: ReturnType<typeof conjugateProblem>,
  alpha: number,
  samples: number,
  seed: number,
) {
  const objective = renyiObjective({ alpha, samples, likelihood: 'gaussian' });
  return tf.tidy(() => {
    const terms = objective.loss(problem.model, problem.batch, fullBatchContext(problem.n, new Random(seed)));
    return { bound: terms.terms!.bound.dataSync()[0], loss: terms.loss.dataSync()[0] };
  });
}

describe('renyiBound', () => {
  it('is non-increasing in α for any fixed set of log weights, with the ELBO, IWAE and VR-max limits', () => {
    const logW = tf.tensor1d([-3.2, -1.1, -7.5, -0.4, -2.0]);
    const alphas = [-Infinity, -50, -2, 0, 0.5, 0.999999, 1, 2, 50, Infinity];
    const values = alphas.map((a) => renyiBound(logW, a).bound.dataSync()[0]);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeLessThanOrEqual(values[i - 1] + 1e-5);
    const w = [-3.2, -1.1, -7.5, -0.4, -2.0];
    expect(values[0]).toBeCloseTo(-0.4, 5);
    expect(values[alphas.indexOf(0)]).toBeCloseTo(Math.log(w.reduce((a, v) => a + Math.exp(v), 0) / 5), 5);
    expect(values[alphas.indexOf(1)]).toBeCloseTo(w.reduce((a, b) => a + b, 0) / 5, 5);
    expect(values[values.length - 1]).toBeCloseTo(-7.5, 5);
  });

  it('has the gradient Σ ŵ_k ∇ log w_k, equal to the derivative of the bound itself', () => {
    const logW = tf.tensor1d([-1.5, 0.3, -0.7]);
    for (const alpha of [-1, 0, 0.5, 2]) {
      const g = tf
        .grad((x: tf.Tensor) => renyiBound(x as tf.Tensor1D, alpha).objective)(logW)
        .dataSync();
      const direct = tf
        .grad((x: tf.Tensor) => tf.div(tf.sub(tf.logSumExp(tf.mul(1 - alpha, x)), Math.log(3)), 1 - alpha))(
          logW,
        )
        .dataSync();
      for (let i = 0; i < 3; i++) expect(g[i]).toBeCloseTo(direct[i], 5);
      const value = renyiBound(logW, alpha);
      expect(value.objective.dataSync()[0]).toBeCloseTo(value.bound.dataSync()[0], 5);
    }
  });
});

describe('renyiObjective', () => {
  it('with K = 1 equals the single-sample ELBO estimate for every α', () => {
    const problem = conjugateProblem();
    problem.layer.family().initialise(tf.tensor2d([[0.8]]), Math.log(0.2));
    const values = [-Infinity, -3, 0, 0.5, 1, 2, Infinity].map((a) => boundValue(problem, a, 1, 5).bound);
    for (const v of values) expect(v).toBeCloseTo(values[0], 4);
    // Independently: the same draw θ (first normal the layers draw from the same seed), log p(y|θ) + log p(θ) − log q(θ).
    const theta = 0.8 + Math.sqrt(0.2) * fillZigguratNormal(new Float32Array(1), new Random(5))[0];
    const ys = Array.from(problem.batch.y.dataSync());
    const logLik = ys.reduce((a, y) => a - 0.5 * Math.log(2 * Math.PI) - 0.5 * (y - theta) ** 2, 0);
    const logPrior = -0.5 * Math.log(2 * Math.PI) - 0.5 * theta ** 2;
    const logQ = -0.5 * Math.log(2 * Math.PI * 0.2) - (theta - 0.8) ** 2 / (2 * 0.2);
    expect(values[0]).toBeCloseTo(logLik + logPrior - logQ, 3);
  });

  it('in expectation: ELBO ≤ L̂_α non-increasing in α, and L̂_0 ≤ log evidence', () => {
    const problem = conjugateProblem();
    problem.layer.family().initialise(tf.tensor2d([[0.5]]), Math.log(0.3));
    const alphas = [-1, 0, 0.5, 1];
    const draws = 100;
    const values = alphas.map((alpha) =>
      Array.from({ length: draws }, (_, s) => boundValue(problem, alpha, 5, 1000 + s).bound),
    );
    const means = values.map((v) => v.reduce((a, b) => a + b, 0) / draws);
    const elboValues = values[alphas.indexOf(1)];
    const elboSe = Math.sqrt(elboValues.reduce((a, v) => a + (v - means[3]) ** 2, 0) / (draws - 1) / draws);
    for (let i = 1; i < means.length; i++) expect(means[i]).toBeLessThan(means[i - 1]);
    // Closed-form ELBO at this q: E_q log p(y|z) + E_q log p(z) + H[q].
    const ys = Array.from(problem.batch.y.dataSync());
    const m = 0.5;
    const v = 0.3;
    const elbo =
      ys.reduce((a, y) => a - 0.5 * Math.log(2 * Math.PI) - 0.5 * ((y - m) ** 2 + v), 0) -
      0.5 * Math.log(2 * Math.PI) -
      0.5 * (m * m + v) +
      0.5 * Math.log(2 * Math.PI * Math.E * v);
    // α = 1 is an unbiased estimate of the ELBO: within 4 standard errors.
    expect(Math.abs(means[3] - elbo)).toBeLessThan(4 * elboSe);
    expect(means[1]).toBeGreaterThan(elbo);
    // E L̂_0 ≤ log p(D) (Li & Turner 2016, Thm 1); 0.05 allows for the Monte-Carlo error of 100 draws.
    expect(means[1]).toBeLessThan(problem.logEvidence + 0.05);
    console.log(
      `ELBO ${elbo.toFixed(3)}, E L̂(α=1,0.5,0,−1) ${[...means].reverse().map((x) => x.toFixed(3))}, log p(D) ${problem.logEvidence.toFixed(3)}`,
    );
  });

  for (const alpha of [0, 0.5]) {
    it(`training with α = ${alpha} (K = 3) recovers the analytic normal–normal posterior`, () => {
      const problem = conjugateProblem();
      const exactMean = problem.posteriorMean[0];
      const exactStd = Math.sqrt(problem.posteriorCovariance[0][0]);
      // Start off the optimum, as Pyro's test does: mean +0.3, standard deviation ×0.74.
      problem.layer.family().initialise(tf.tensor2d([[exactMean + 0.3]]), 2 * Math.log(exactStd) - 0.6);
      const fit = fitFullBatch(problem, renyiObjective({ alpha, samples: 3, likelihood: 'gaussian' }), {
        steps: 300,
        learningRate: 0.02,
        averageLast: 250,
        seed: 3,
      });
      const squaredError = (fit.mean[0] - exactMean) ** 2 + (fit.std[0] - exactStd) ** 2;
      console.log(
        `α=${alpha}: mean ${fit.mean[0].toFixed(4)} (exact ${exactMean.toFixed(4)}), sd ${fit.std[0].toFixed(4)} (exact ${exactStd.toFixed(4)})`,
      );
      expect(squaredError).toBeLessThan(0.05);
      expect(Math.abs(fit.std[0] / exactStd - 1)).toBeLessThan(0.15);
    });
  }
});

describe('objective training loops', () => {
  it('keep the tensor count flat (ELBO with K = 2 and Rényi with K = 3)', () => {
    for (const objective of [
      elboObjective({ likelihood: 'gaussian', samples: 2 }),
      renyiObjective({ alpha: 0.5, samples: 3, likelihood: 'gaussian' }),
      renyiObjective({ alpha: -Infinity, samples: 3, likelihood: 'gaussian' }),
    ]) {
      const problem = conjugateProblem();
      const optimizer = tf.train.adam(0.01);
      const random = new Random(1);
      const step = () =>
        optimizer.minimize(
          () => objective.loss(problem.model, problem.batch, fullBatchContext(problem.n, random)).loss,
        );
      step();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 5; i++) step();
      expect(tf.memory().numTensors).toBe(before);
      optimizer.dispose();
    }
  });
});
